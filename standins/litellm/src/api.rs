//! LiteLLM's HTTP surface: routing, master-key authentication, the
//! parameters of each endpoint (with FastAPI's validation answers) and the
//! JSON LiteLLM answers.

use bytes::Bytes;
use chrono::Utc;
use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::keys::{self, GenerateError, ListQuery, NewKey, SORT_COLUMNS};
use crate::reply::{
    auth_error, http_exception, method_not_allowed, not_found, proxy_error, validation_error,
    ErrorType, Reply,
};
use crate::server::{lock, Shared};

/// A request as the handlers see it.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    /// `Authorization`, else `x-litellm-api-key` (LiteLLM reads both).
    pub(crate) api_key: Option<String>,
    pub(crate) body: Bytes,
}

/// The endpoints served: path, method.
const ROUTES: &[(&str, Method)] = &[
    ("/health/liveliness", Method::GET),
    ("/health/readiness", Method::GET),
    ("/key/generate", Method::POST),
    ("/key/info", Method::GET),
    ("/key/list", Method::GET),
    ("/key/delete", Method::POST),
];

/// Answers one LiteLLM API request.
pub(crate) fn handle(shared: &Shared, req: &ApiRequest) -> Reply {
    let path = req.path.as_str();
    let Some((_, method)) = ROUTES.iter().find(|(p, _)| *p == path) else {
        return not_found();
    };
    if req.method != *method {
        return method_not_allowed();
    }
    match path {
        // Health checks are open, as in LiteLLM.
        "/health/liveliness" => Reply::json(StatusCode::OK, &json!("I'm alive!")),
        "/health/readiness" => Reply::json(
            StatusCode::OK,
            &json!({"status": "healthy", "db": "connected", "litellm_version": "stand-in"}),
        ),
        _ => {
            if let Err(reply) = authenticate(shared, req) {
                return reply;
            }
            match path {
                "/key/generate" => generate(shared, req),
                "/key/info" => info(shared, req),
                "/key/list" => list(shared, req),
                _ => delete(shared, req),
            }
        }
    }
}

/// `user_api_key_auth`, for the admin routes: only the master key passes.
fn authenticate(shared: &Shared, req: &ApiRequest) -> Result<(), Reply> {
    let key = req
        .api_key
        .as_deref()
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
        .unwrap_or_default();
    if key.is_empty() {
        return Err(auth_error("No api key passed in."));
    }
    if key == shared.master_key {
        return Ok(());
    }
    if !key.starts_with("sk-") {
        // LiteLLM echoes what it received here, in full.
        return Err(auth_error(&format!(
            "LiteLLM Virtual Key expected. Received={key}, expected to start with 'sk-'."
        )));
    }
    let token = keys::hash_token(key);
    if lock(&shared.keys).get(&token).is_some() {
        return Err(auth_error(&format!(
            "Only proxy admin can be used to generate, delete, update info for new keys/users/teams. Route={}. Your role=internal_user",
            req.path
        )));
    }
    Err(auth_error(&format!(
        "Invalid proxy server token passed. Received API Key = {}, Key Hash (Token) ={token}. Unable to find token in cache or `LiteLLM_VerificationTokenTable`",
        keys::abbreviate(key)
    )))
}

// --------------------------------------------------------------- parameters

/// Query parameters, percent-decoded; a repeated name keeps its last value
/// (Starlette's `QueryParams.get`).
fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.extend(u8::try_from(h * 16 + l));
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param<'q>(params: &'q [(String, String)], name: &str) -> Option<&'q str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An integer query parameter within `min..=max`, FastAPI's way.
fn int_param(
    params: &[(String, String)],
    name: &str,
    default: usize,
    min: usize,
    max: Option<usize>,
) -> Result<usize, Reply> {
    let Some(text) = param(params, name) else {
        return Ok(default);
    };
    let loc = ["query", name];
    let value: i64 = text.trim().parse().map_err(|_| {
        validation_error(
            &loc,
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
            json!(text),
        )
    })?;
    let as_usize = usize::try_from(value).ok().filter(|v| *v >= min);
    let Some(v) = as_usize else {
        return Err(validation_error(
            &loc,
            "greater_than_equal",
            &format!("Input should be greater than or equal to {min}"),
            json!(text),
        ));
    };
    if let Some(max) = max.filter(|m| v > *m) {
        return Err(validation_error(
            &loc,
            "less_than_equal",
            &format!("Input should be less than or equal to {max}"),
            json!(text),
        ));
    }
    Ok(v)
}

/// A boolean query parameter, pydantic's lax way.
fn bool_param(params: &[(String, String)], name: &str) -> Result<bool, Reply> {
    let Some(text) = param(params, name) else {
        return Ok(false);
    };
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(validation_error(
            &["query", name],
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
            json!(text),
        )),
    }
}

/// The JSON body as an object (FastAPI answers 422 otherwise).
fn body_object(req: &ApiRequest) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(validation_error(
            &["body"],
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
            other,
        )),
        Err(e) => Err(validation_error(
            &["body"],
            "json_invalid",
            "JSON decode error",
            json!(e.to_string()),
        )),
    }
}

fn type_error(field: &str, kind: &str, msg: &str, input: &Value) -> Reply {
    validation_error(&["body", field], kind, msg, input.clone())
}

/// A field of a request body, type-checked as pydantic would (lax: numbers
/// also accept numeric strings); JSON `null` is absent.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn present(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// The field as `convert` reads it, or pydantic's `kind` error with
    /// `msg` when it cannot.
    fn typed<'a, T>(
        &'a self,
        name: &str,
        kind: &str,
        msg: &str,
        convert: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, Reply> {
        match self.present(name) {
            None => Ok(None),
            Some(v) => convert(v)
                .map(Some)
                .ok_or_else(|| type_error(name, kind, msg, v)),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, Reply> {
        let msg = "Input should be a valid string";
        self.typed(name, "string_type", msg, |v| v.as_str().map(str::to_string))
    }

    fn float(&self, name: &str) -> Result<Option<f64>, Reply> {
        let msg = "Input should be a valid number, unable to parse string as a number";
        self.typed(name, "float_parsing", msg, |v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    }

    fn int(&self, name: &str) -> Result<Option<i64>, Reply> {
        let msg = "Input should be a valid integer, unable to parse string as an integer";
        self.typed(name, "int_parsing", msg, |v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, Reply> {
        let msg = "Input should be a valid boolean";
        self.typed(name, "bool_type", msg, Value::as_bool)
    }

    fn strings(&self, name: &str) -> Result<Option<Vec<String>>, Reply> {
        let msg = "Input should be a valid list";
        let Some(items) = self.typed(name, "list_type", msg, Value::as_array)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(type_error(
                    name,
                    "string_type",
                    "Input should be a valid string",
                    other,
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn object(&self, name: &str) -> Result<Map<String, Value>, Reply> {
        let msg = "Input should be a valid dictionary";
        let object = self.typed(name, "dict_type", msg, Value::as_object)?;
        Ok(object.cloned().unwrap_or_default())
    }
}

// ---------------------------------------------------------------- endpoints

fn parse_new_key(body: &Map<String, Value>) -> Result<NewKey, Reply> {
    let f = Fields(body);
    Ok(NewKey {
        key: f.string("key")?,
        key_alias: f.string("key_alias")?,
        duration: f.string("duration")?,
        models: f.strings("models")?.unwrap_or_default(),
        max_budget: f.float("max_budget")?,
        budget_duration: f.string("budget_duration")?,
        spend: f.float("spend")?.unwrap_or(0.0),
        metadata: f.object("metadata")?,
        aliases: f.object("aliases")?,
        config: f.object("config")?,
        permissions: f.object("permissions")?,
        user_id: f.string("user_id")?,
        team_id: f.string("team_id")?,
        tpm_limit: f.int("tpm_limit")?,
        rpm_limit: f.int("rpm_limit")?,
        max_parallel_requests: f.int("max_parallel_requests")?,
        blocked: f.boolean("blocked")?,
    })
}

/// `POST /key/generate`: the one answer that carries the raw key.
fn generate(shared: &Shared, req: &ApiRequest) -> Reply {
    let new = match body_object(req).and_then(|b| parse_new_key(&b)) {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    let now = Utc::now();
    let result = lock(&shared.keys).generate(new, now);
    let (raw, row) = match result {
        Ok(created) => created,
        Err(GenerateError::AliasTaken(alias)) => {
            return proxy_error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Key with alias '{alias}' already exists. Unique key aliases across all keys are required."
                ),
                ErrorType::BadRequest,
                Some("key_alias"),
            )
        }
        Err(GenerateError::BadKeyFormat(k)) => {
            let masked = if k.chars().count() > 8 {
                let chars: Vec<char> = k.chars().collect();
                let head: String = chars[..4].iter().collect();
                let tail: String = chars[chars.len() - 4..].iter().collect();
                format!("{head}****{tail}")
            } else {
                "****".to_string()
            };
            return http_exception(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Invalid key format. LiteLLM Virtual Key must start with 'sk-'. Received: {masked}"
                ),
            );
        }
        Err(GenerateError::BadDuration) => {
            return proxy_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Invalid duration format",
                ErrorType::Internal,
                Some("None"),
            )
        }
        Err(GenerateError::KeyExists) | Err(GenerateError::Random(_)) => {
            return http_exception(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error.")
        }
    };
    let mut answer = row.to_json();
    if let Value::Object(map) = &mut answer {
        map.insert("key".into(), json!(raw));
        map.insert("token_id".into(), json!(row.token));
        // generate_key_helper_fn formats `expires` with Python's isoformat().
        map.insert(
            "expires".into(),
            json!(row
                .expires
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())),
        );
        map.insert("soft_budget".into(), Value::Null);
        map.insert("litellm_budget_table".into(), Value::Null);
    }
    Reply::json(StatusCode::OK, &answer)
}

/// `GET /key/info?key=`: a raw key or a token; without one, the caller's
/// own key (the master key is in no table: 404).
fn info(shared: &Shared, req: &ApiRequest) -> Reply {
    let params = query_params(req.query.as_deref());
    let key = param(&params, "key")
        .map(str::to_string)
        .or_else(|| req.api_key.clone())
        .unwrap_or_default();
    let key = key.strip_prefix("Bearer ").unwrap_or(&key).to_string();
    let Some(row) = lock(&shared.keys).get(&keys::token_of(&key)).cloned() else {
        return proxy_error(
            StatusCode::NOT_FOUND,
            "Key not found in database",
            ErrorType::NotFound,
            Some("key"),
        );
    };
    let mut info = row.to_json();
    if let Value::Object(map) = &mut info {
        map.remove("token");
        map.insert("litellm_budget_table".into(), Value::Null);
    }
    Reply::json(StatusCode::OK, &json!({"key": key, "info": info}))
}

/// `GET /key/list`: tokens, or whole rows with `return_full_object=true`.
fn list(shared: &Shared, req: &ApiRequest) -> Reply {
    let params = query_params(req.query.as_deref());
    let parsed = (|| {
        let page = int_param(&params, "page", 1, 1, None)?;
        let size = int_param(&params, "size", 10, 1, Some(100))?;
        let full = bool_param(&params, "return_full_object")?;
        let text = |n: &str| {
            param(&params, n)
                .filter(|v| !v.is_empty())
                .map(String::from)
        };
        let sort_by = text("sort_by");
        let order = param(&params, "sort_order")
            .unwrap_or("desc")
            .to_ascii_lowercase();
        if let Some(column) = &sort_by {
            if !SORT_COLUMNS.contains(&column.as_str()) {
                return Err(http_exception(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "Invalid sort column. Must be one of: {}",
                        SORT_COLUMNS.join(", ")
                    ),
                ));
            }
            if order != "asc" && order != "desc" {
                return Err(http_exception(
                    StatusCode::BAD_REQUEST,
                    "Invalid sort order. Must be 'asc' or 'desc'",
                ));
            }
        }
        let query = ListQuery {
            key_alias: text("key_alias"),
            key_hash: text("key_hash"),
            user_id: text("user_id"),
            team_id: text("team_id"),
            sort_by,
            descending: order == "desc",
        };
        Ok((page, size, full, query))
    })();
    let (page, size, full, query) = match parsed {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let (rows, total) = lock(&shared.keys).list(&query, page, size);
    let keys: Vec<Value> = rows
        .iter()
        .map(|r| if full { r.to_json() } else { json!(r.token) })
        .collect();
    Reply::json(
        StatusCode::OK,
        &json!({
            "keys": keys,
            "total_count": total,
            "current_page": page,
            "total_pages": total.div_ceil(size),
        }),
    )
}

/// `POST /key/delete` with `keys` (raw keys or tokens) or `key_aliases`.
/// Like LiteLLM, it answers with what was asked for once at least one key
/// matched, and 404 when none did.
fn delete(shared: &Shared, req: &ApiRequest) -> Reply {
    let body = match body_object(req) {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let f = Fields(&body);
    let (keys, aliases) = match (f.strings("keys"), f.strings("key_aliases")) {
        (Ok(k), Ok(a)) => (k, a),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    if keys.is_none() && aliases.is_none() {
        return validation_error(
            &["body"],
            "value_error",
            "Value error, Must specify either keys or key_aliases",
            Value::Object(body.clone()),
        );
    }
    let mut store = lock(&shared.keys);
    let (tokens, asked) = match (keys, aliases) {
        (Some(k), _) if !k.is_empty() => (k.iter().map(|k| keys::token_of(k)).collect(), k),
        (_, Some(a)) if !a.is_empty() => (store.tokens_with_aliases(&a), a),
        _ => {
            return proxy_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Invalid request type",
                ErrorType::Internal,
                Some("None"),
            )
        }
    };
    if store.delete(&tokens).is_empty() {
        return http_exception(StatusCode::NOT_FOUND, "No keys found");
    }
    Reply::json(StatusCode::OK, &json!({"deleted_keys": asked}))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn query_strings_decode_like_starlette() {
        let p = query_params(Some("key_alias=tenant%2Facme&size=5&size=7&x=a+b&bad=%zz"));
        assert_eq!(param(&p, "key_alias"), Some("tenant/acme"));
        assert_eq!(param(&p, "size"), Some("7"));
        assert_eq!(param(&p, "x"), Some("a b"));
        assert_eq!(param(&p, "bad"), Some("%zz"));
        assert_eq!(param(&p, "none"), None);
    }
}
