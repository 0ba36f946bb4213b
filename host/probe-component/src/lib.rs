//! cp-host-probe: a test fixture component that exercises every capability cp-host provides.
//!
//! One component, driven by the `op` query parameter, so a test manifest can mount it on any
//! route and under any `allowed_outbound_hosts`:
//! - `op=echo` (default): method, path, query, body and every `spin-*` header, as JSON.
//! - `op=var&name=N`: the component variable `N`, or the error's debug form.
//! - `op=pg`: runs the JSON steps in the body on one connection to the variable `db_url`
//!   (`{"steps": [{"kind": "query" | "execute" | "trap", "sql": "...", "params": [...]}]}`) and
//!   reports each result (columns, values and errors in their debug form, SQLSTATE codes).
//! - `op=http&url=U`: an outbound GET of `U`, reporting status and body or the error.
//! - `op=trap`: traps.
//! - `op=loop`: never returns (a guest stuck in a loop).
//! - `op=hog&mib=N`: allocates and touches N MiB of linear memory, reporting how much.

#![deny(missing_docs)]

use serde_json::{json, Map, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, Interval, ParameterValue, PgError, QueryError, RangeBoundKind};

/// The exported `wasi:http/incoming-handler`.
mod export {
    // `http_component` expands to the component's `extern "C"` export glue.
    #![allow(unsafe_code)]

    use spin_sdk::http::{Request, Response};

    #[spin_sdk::http_component]
    async fn handle(req: Request) -> Response {
        super::dispatch(req).await
    }
}

async fn dispatch(req: Request) -> Response {
    let query = parse_query(req.query());
    let op = query.get("op").and_then(Value::as_str).unwrap_or("echo");
    let body = match op {
        "echo" => echo(&req),
        "var" => variable(
            query
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        "pg" => postgres(req.body()),
        "http" => outbound(query.get("url").and_then(Value::as_str).unwrap_or_default()).await,
        "trap" => panic!("cp-host-probe: trap requested"),
        "loop" => spin_forever(),
        "hog" => hog(query
            .get("mib")
            .and_then(Value::as_str)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)),
        other => return Response::new(400, format!("unknown op {other:?}")),
    };
    json_response(200, &body)
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

/// Decodes `a=1&b=two` (percent-escapes included) into a JSON object.
fn parse_query(query: &str) -> Map<String, Value> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

fn echo(req: &Request) -> Value {
    let headers: Map<String, Value> = req
        .headers()
        .filter(|(name, _)| name.starts_with("spin-") || *name == "host")
        .map(|(name, value)| {
            (
                name.to_string(),
                Value::String(value.as_str().unwrap_or_default().to_string()),
            )
        })
        .collect();
    json!({
        "method": format!("{:?}", req.method()),
        "uri": req.uri(),
        "path": req.path(),
        "query": req.query(),
        "body": String::from_utf8_lossy(req.body()),
        "headers": headers,
    })
}

fn spin_forever() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates `mib` MiB and writes every page, so the memory is really used.
fn hog(mib: usize) -> Value {
    let mut block = vec![0u8; mib * 1024 * 1024];
    for page in block.chunks_mut(4096) {
        page[0] = 1;
    }
    let touched: usize = std::hint::black_box(&block)
        .chunks(4096)
        .map(|page| usize::from(page[0]))
        .sum();
    json!({ "allocated_mib": mib, "pages": touched })
}

fn variable(name: &str) -> Value {
    match spin_sdk::variables::get(name) {
        Ok(value) => json!({ "value": value }),
        Err(e) => json!({ "error": format!("{e:?}") }),
    }
}

async fn outbound(url: &str) -> Value {
    let request = Request::get(url).build();
    match spin_sdk::http::send::<_, Response>(request).await {
        Ok(response) => json!({
            "status": response.status(),
            "body": String::from_utf8_lossy(response.body()),
        }),
        Err(e) => json!({ "error": format!("{e:?}") }),
    }
}

fn postgres(body: &[u8]) -> Value {
    let steps = match serde_json::from_slice::<Value>(body) {
        Ok(request) => request
            .get("steps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        Err(e) => return json!({ "error": format!("bad request body: {e}") }),
    };
    let address = match spin_sdk::variables::get("db_url") {
        Ok(address) => address,
        Err(e) => return json!({ "error": format!("{e:?}") }),
    };
    let connection = match Connection::open(&address) {
        Ok(connection) => connection,
        Err(e) => return json!({ "open_error": pg_error(&e) }),
    };
    let results: Vec<Value> = steps
        .iter()
        .map(|step| run_step(&connection, step))
        .collect();
    json!({ "results": results })
}

fn run_step(connection: &Connection, step: &Value) -> Value {
    let sql = step.get("sql").and_then(Value::as_str).unwrap_or_default();
    let params = match step
        .get("params")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(parameter).collect::<Result<Vec<_>, _>>())
        .unwrap_or(Ok(Vec::new()))
    {
        Ok(params) => params,
        Err(e) => return json!({ "error": { "kind": "probe", "message": e } }),
    };
    match step.get("kind").and_then(Value::as_str) {
        // Traps mid-session (a component failing between `BEGIN` and `COMMIT`).
        Some("trap") => panic!("cp-host-probe: trap requested at a pg step"),
        Some("execute") => match connection.execute(sql, &params) {
            Ok(n) => json!({ "rows_affected": n }),
            Err(e) => json!({ "error": pg_error(&e) }),
        },
        _ => match connection.query(sql, &params) {
            Ok(rows) => json!({
                "columns": rows.columns.iter().map(|c| json!({
                    "name": c.name,
                    "type": format!("{:?}", c.data_type),
                })).collect::<Vec<_>>(),
                "rows": rows.rows.iter().map(|row| {
                    row.iter().map(|v| Value::String(format!("{v:?}"))).collect::<Vec<_>>()
                }).collect::<Vec<_>>(),
            }),
            Err(e) => json!({ "error": pg_error(&e) }),
        },
    }
}

/// An error as JSON: its case, the SQLSTATE code for server errors, a `text` error's text,
/// and its debug form.
fn pg_error(e: &PgError) -> Value {
    let (kind, code) = match e {
        PgError::ConnectionFailed(_) => ("connection-failed", None),
        PgError::BadParameter(_) => ("bad-parameter", None),
        PgError::QueryFailed(QueryError::DbError(db)) => ("query-failed", Some(db.code.clone())),
        PgError::QueryFailed(QueryError::Text(_)) => ("query-failed", None),
        PgError::ValueConversionFailed(_) => ("value-conversion-failed", None),
        PgError::Other(_) => ("other", None),
    };
    let text = match e {
        PgError::QueryFailed(QueryError::Text(text)) => Some(text.clone()),
        _ => None,
    };
    json!({ "kind": kind, "code": code, "text": text, "debug": format!("{e:?}") })
}

/// Builds a parameter from `{"t": "<case>", "v": <value>}`.
fn parameter(spec: &Value) -> Result<ParameterValue, String> {
    let t = spec.get("t").and_then(Value::as_str).unwrap_or_default();
    let v = spec.get("v").cloned().unwrap_or(Value::Null);
    let bad = || format!("bad value for {t}: {v}");
    let int = |v: &Value| v.as_i64().ok_or_else(bad);
    let ints = |v: &Value| -> Result<Vec<i64>, String> {
        v.as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|x| x.as_i64().ok_or_else(bad))
            .collect()
    };
    let narrow = |x: i64| -> Result<i32, String> { i32::try_from(x).map_err(|_| bad()) };
    let byte = |x: i64| -> Result<u8, String> { u8::try_from(x).map_err(|_| bad()) };
    let text = |v: &Value| v.as_str().map(str::to_string).ok_or_else(bad);
    Ok(match t {
        "boolean" => ParameterValue::Boolean(v.as_bool().ok_or_else(bad)?),
        "int8" => ParameterValue::Int8(i8::try_from(int(&v)?).map_err(|_| bad())?),
        "int16" => ParameterValue::Int16(i16::try_from(int(&v)?).map_err(|_| bad())?),
        "int32" => ParameterValue::Int32(narrow(int(&v)?)?),
        "int64" => ParameterValue::Int64(int(&v)?),
        "floating32" => ParameterValue::Floating32(v.as_f64().ok_or_else(bad)? as f32),
        "floating64" => ParameterValue::Floating64(v.as_f64().ok_or_else(bad)?),
        "str" => ParameterValue::Str(text(&v)?),
        "binary" => {
            ParameterValue::Binary(ints(&v)?.into_iter().map(byte).collect::<Result<_, _>>()?)
        }
        "date" => match ints(&v)?.as_slice() {
            [y, m, d] => ParameterValue::Date((narrow(*y)?, byte(*m)?, byte(*d)?)),
            _ => return Err(bad()),
        },
        "time" => match ints(&v)?.as_slice() {
            [h, m, s, ns] => ParameterValue::Time((
                byte(*h)?,
                byte(*m)?,
                byte(*s)?,
                u32::try_from(*ns).map_err(|_| bad())?,
            )),
            _ => return Err(bad()),
        },
        "datetime" => match ints(&v)?.as_slice() {
            [y, mo, d, h, mi, s, ns] => ParameterValue::Datetime((
                narrow(*y)?,
                byte(*mo)?,
                byte(*d)?,
                byte(*h)?,
                byte(*mi)?,
                byte(*s)?,
                u32::try_from(*ns).map_err(|_| bad())?,
            )),
            _ => return Err(bad()),
        },
        "timestamp" => ParameterValue::Timestamp(int(&v)?),
        "uuid" => ParameterValue::Uuid(text(&v)?),
        "jsonb" => ParameterValue::Jsonb(text(&v)?.into_bytes()),
        "decimal" => ParameterValue::Decimal(text(&v)?),
        "range-int32" => {
            let (lower, upper) = range(&v, |x| int(x).and_then(narrow))?;
            ParameterValue::RangeInt32((lower, upper))
        }
        "range-int64" => {
            let (lower, upper) = range(&v, int)?;
            ParameterValue::RangeInt64((lower, upper))
        }
        "range-decimal" => {
            let (lower, upper) = range(&v, text)?;
            ParameterValue::RangeDecimal((lower, upper))
        }
        "array-int32" => ParameterValue::ArrayInt32(optionals(&v, |x| int(x).and_then(narrow))?),
        "array-int64" => ParameterValue::ArrayInt64(optionals(&v, int)?),
        "array-decimal" => ParameterValue::ArrayDecimal(optionals(&v, text)?),
        "array-str" => ParameterValue::ArrayStr(optionals(&v, text)?),
        "interval" => ParameterValue::Interval(Interval {
            micros: int(v.get("micros").unwrap_or(&Value::Null))?,
            days: narrow(int(v.get("days").unwrap_or(&Value::Null))?)?,
            months: narrow(int(v.get("months").unwrap_or(&Value::Null))?)?,
        }),
        "null" => ParameterValue::DbNull,
        _ => return Err(format!("unknown parameter type {t:?}")),
    })
}

type Bound<T> = Option<(T, RangeBoundKind)>;

/// `{"lower": [value, "inclusive"|"exclusive"] | null, "upper": ...}`.
fn range<T>(
    v: &Value,
    element: impl Fn(&Value) -> Result<T, String>,
) -> Result<(Bound<T>, Bound<T>), String> {
    let bound = |b: Option<&Value>| -> Result<Bound<T>, String> {
        match b.and_then(Value::as_array).map(Vec::as_slice) {
            None => Ok(None),
            Some([value, kind]) => {
                let kind = match kind.as_str() {
                    Some("inclusive") => RangeBoundKind::Inclusive,
                    Some("exclusive") => RangeBoundKind::Exclusive,
                    _ => return Err(format!("bad range bound kind {kind}")),
                };
                Ok(Some((element(value)?, kind)))
            }
            Some(_) => Err(format!("bad range bound {v}")),
        }
    };
    Ok((bound(v.get("lower"))?, bound(v.get("upper"))?))
}

/// A JSON array whose nulls become `None`.
fn optionals<T>(
    v: &Value,
    element: impl Fn(&Value) -> Result<T, String>,
) -> Result<Vec<Option<T>>, String> {
    v.as_array()
        .ok_or_else(|| format!("expected an array, got {v}"))?
        .iter()
        .map(|x| {
            if x.is_null() {
                Ok(None)
            } else {
                element(x).map(Some)
            }
        })
        .collect()
}
