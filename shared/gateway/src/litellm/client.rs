//! A minimal client of LiteLLM's virtual-key admin API over the
//! [`HttpTransport`] port: list a key alias's tokens (`GET /key/list`),
//! read a key's row (`GET /key/info`), delete keys (`POST /key/delete`),
//! each authenticated with `Authorization: Bearer <master key>`.
//!
//! Keys are addressed by their token (LiteLLM's SHA-256 of the raw key),
//! which `/key/list` returns: the raw key is never known here. Error
//! messages name the operation and the HTTP status only: never the master
//! key, never LiteLLM's response body (LiteLLM echoes the presented key in
//! its authentication errors).

use std::fmt;
use std::time::Duration;

use cp_http::outbound::{HttpTransport, OutboundRequest, OutboundResponse, TransportError};
use cp_http::request::percent_encode;
use serde::Deserialize;
use serde_json::json;

/// The variable holding LiteLLM's base URL.
pub(crate) const URL_VARIABLE: &str = "litellm_url";
/// The variable holding LiteLLM's master key (a secret).
pub(crate) const MASTER_KEY_VARIABLE: &str = "litellm_master_key";
/// The variable bounding one admin call, in milliseconds.
pub(crate) const TIMEOUT_VARIABLE: &str = "litellm_timeout_ms";
/// The variable whose value the host's outbound allow-list admits.
pub(crate) const ALLOWED_HOST_VARIABLE: &str = "litellm_allowed_host";
/// Upper bound of one admin call without `litellm_timeout_ms`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// LiteLLM's largest `/key/list` page.
const PAGE_SIZE: usize = 100;

/// Where and how to reach LiteLLM.
#[derive(Clone)]
pub(crate) struct LitellmConfig {
    /// `scheme://host[:port][/prefix]`, no trailing slash.
    pub(crate) base_url: String,
    /// The master key (never printed).
    master_key: String,
    /// Upper bound of one admin call.
    pub(crate) timeout: Duration,
}

impl fmt::Debug for LitellmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LitellmConfig")
            .field("base_url", &self.base_url)
            .field("master_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why the configuration cannot be used (a deployment matter: the text
/// names the variable, never a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigError {
    /// `litellm_url` unset or empty.
    MissingUrl,
    /// `litellm_url` is not `http(s)://host[:port][/path]`.
    BadUrl,
    /// `litellm_master_key` unset or empty.
    MissingMasterKey,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingUrl => write!(
                f,
                "the `{URL_VARIABLE}` variable is not set; configure LiteLLM's base URL \
                 (scheme://host[:port]) and `{ALLOWED_HOST_VARIABLE}` (its scheme://host[:port])"
            ),
            Self::BadUrl => write!(
                f,
                "the `{URL_VARIABLE}` variable is not an http(s) URL (scheme://host[:port][/path], \
                 no credentials, query or fragment)"
            ),
            Self::MissingMasterKey => write!(
                f,
                "the `{MASTER_KEY_VARIABLE}` variable is not set; configure LiteLLM's master key"
            ),
        }
    }
}

impl LitellmConfig {
    /// The settings from the component's variables.
    pub(crate) fn from_variables(
        variable: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let url = variable(URL_VARIABLE).ok_or(ConfigError::MissingUrl)?;
        let base_url = url.trim().trim_end_matches('/').to_owned();
        let rest = base_url
            .strip_prefix("http://")
            .or_else(|| base_url.strip_prefix("https://"));
        let authority = rest.map(|r| r.split('/').next().unwrap_or_default());
        // Credentials belong in litellm_master_key, never in the URL (it is
        // shown in logs).
        let valid = rest.is_some_and(|r| !r.contains(['?', '#']))
            && authority.is_some_and(|a| !a.is_empty() && !a.contains('@'));
        if !valid {
            return Err(ConfigError::BadUrl);
        }
        let master_key = variable(MASTER_KEY_VARIABLE).ok_or(ConfigError::MissingMasterKey)?;
        let timeout = variable(TIMEOUT_VARIABLE)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        Ok(Self {
            base_url,
            master_key,
            timeout,
        })
    }
}

/// The admin operations, as error messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `GET /key/list`
    List,
    /// `GET /key/info`
    Info,
    /// `POST /key/delete`
    Delete,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::List => "listing keys (GET /key/list)",
            Self::Info => "reading a key (GET /key/info)",
            Self::Delete => "deleting keys (POST /key/delete)",
        })
    }
}

/// Why an admin call failed. `Display` is safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LitellmError {
    /// No answer (unreachable, timed out, refused by the host's allow-list).
    Transport(Op, TransportError),
    /// LiteLLM answered an unexpected status.
    Status {
        /// What we were doing.
        op: Op,
        /// The HTTP status.
        status: u16,
    },
    /// The answer is not what LiteLLM's API documents (logged detail).
    Protocol {
        /// What we were doing.
        op: Op,
        /// What was wrong (no upstream body).
        detail: String,
    },
}

impl fmt::Display for LitellmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The transport's own text may carry host details; the kind is enough.
            Self::Transport(op, TransportError::Timeout) => {
                write!(f, "LiteLLM did not answer in time while {op}")
            }
            Self::Transport(op, TransportError::Denied(_)) => write!(
                f,
                "the host does not allow outbound requests to LiteLLM while {op}: set the \
                 `{ALLOWED_HOST_VARIABLE}` variable to the scheme://host[:port] of `{URL_VARIABLE}`"
            ),
            Self::Transport(op, TransportError::Connect(_)) => {
                write!(f, "LiteLLM is unreachable while {op}")
            }
            Self::Status { op, status } if *status == 401 || *status == 403 => write!(
                f,
                "LiteLLM refused the master key (HTTP {status}) while {op}: check the \
                 `{MASTER_KEY_VARIABLE}` variable"
            ),
            Self::Status { op, status } => write!(f, "LiteLLM answered HTTP {status} to {op}"),
            Self::Protocol { op, .. } => write!(f, "unexpected answer from LiteLLM to {op}"),
        }
    }
}

impl LitellmError {
    /// What is logged beside the client's message.
    pub(crate) fn cause(&self) -> String {
        match self {
            Self::Transport(op, e) => format!("LiteLLM {op}: {e}"),
            Self::Protocol { op, detail } => format!("LiteLLM {op}: {detail}"),
            Self::Status { op, status } => format!("LiteLLM {op}: HTTP {status}"),
        }
    }
}

/// The tokens of the keys with one alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AliasKeys {
    /// Tokens (LiteLLM's SHA-256 of each raw key), newest first.
    pub(crate) tokens: Vec<String>,
    /// How many keys have the alias (more than `tokens` when over one page).
    pub(crate) total: u64,
}

/// A key's row as `/key/info` shows it: the fields this API reports.
/// LiteLLM sends many more (and `null` for unset ones); money is a float.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(crate) struct KeyInfo {
    /// The masked display form (`sk-...abcd`); `None` with `DISABLE_KEY_NAME`.
    #[serde(default)]
    pub(crate) key_name: Option<String>,
    /// The alias.
    #[serde(default)]
    pub(crate) key_alias: Option<String>,
    /// US dollars spent.
    #[serde(default)]
    pub(crate) spend: Option<serde_json::Number>,
    /// US dollars the key may spend per budget period (`None`: no limit).
    #[serde(default)]
    pub(crate) max_budget: Option<serde_json::Number>,
    /// The budget period (`30d`).
    #[serde(default)]
    pub(crate) budget_duration: Option<String>,
    /// When the key stops working (`None`: never).
    #[serde(default)]
    pub(crate) expires: Option<String>,
    /// Whether LiteLLM refuses the key's requests (`null`: not blocked).
    #[serde(default)]
    pub(crate) blocked: Option<bool>,
    /// Models the key may call (empty: all).
    #[serde(default)]
    pub(crate) models: Option<Vec<String>>,
    /// When it was created (`None` for keys older than the column).
    #[serde(default)]
    pub(crate) created_at: Option<String>,
}

#[derive(Deserialize)]
struct ListAnswer {
    keys: Vec<serde_json::Value>,
    #[serde(default)]
    total_count: Option<u64>,
}

#[derive(Deserialize)]
struct InfoAnswer {
    info: KeyInfo,
}

/// The client.
pub(crate) struct LitellmClient<'a, T> {
    config: LitellmConfig,
    transport: &'a T,
}

impl<'a, T: HttpTransport> LitellmClient<'a, T> {
    /// A client for `config` over `transport`.
    pub(crate) fn new(config: LitellmConfig, transport: &'a T) -> Self {
        Self { config, transport }
    }

    async fn send(
        &self,
        op: Op,
        method: &'static str,
        path_and_query: &str,
        body: Option<serde_json::Value>,
    ) -> Result<OutboundResponse, LitellmError> {
        let mut headers = vec![
            (
                "authorization".to_owned(),
                format!("Bearer {}", self.config.master_key),
            ),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        let body = match body {
            Some(b) => {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
                b.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        self.transport
            .send(OutboundRequest {
                method,
                url: format!("{}{path_and_query}", self.config.base_url),
                headers,
                body,
                timeout: self.config.timeout,
            })
            .await
            .map_err(|e| LitellmError::Transport(op, e))
    }

    /// The tokens of the keys whose alias is `alias` (LiteLLM filters on
    /// equality; aliases are unique in current LiteLLM, older versions
    /// allowed duplicates).
    pub(crate) async fn tokens_with_alias(&self, alias: &str) -> Result<AliasKeys, LitellmError> {
        let op = Op::List;
        let path = format!(
            "/key/list?key_alias={}&size={PAGE_SIZE}&page=1",
            percent_encode(alias)
        );
        let resp = self.send(op, "GET", &path, None).await?;
        expect_ok(op, &resp)?;
        let answer: ListAnswer = decode(op, &resp)?;
        let tokens = answer
            .keys
            .into_iter()
            .map(|k| match k {
                serde_json::Value::String(token) => Ok(token),
                // `return_full_object` rows, should a proxy default to them.
                serde_json::Value::Object(mut row) => match row.remove("token") {
                    Some(serde_json::Value::String(token)) => Ok(token),
                    _ => Err(protocol(op, "a key row without a token")),
                },
                _ => Err(protocol(op, "a key that is neither a token nor a row")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let total = answer.total_count.unwrap_or(tokens.len() as u64);
        Ok(AliasKeys { tokens, total })
    }

    /// The row of the key with this token; `None` when LiteLLM has none.
    pub(crate) async fn info(&self, token: &str) -> Result<Option<KeyInfo>, LitellmError> {
        let op = Op::Info;
        let path = format!("/key/info?key={}", percent_encode(token));
        let resp = self.send(op, "GET", &path, None).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        expect_ok(op, &resp)?;
        Ok(Some(decode::<InfoAnswer>(op, &resp)?.info))
    }

    /// Deletes the keys with these tokens; false when LiteLLM had none of
    /// them (it answers 404 then).
    pub(crate) async fn delete(&self, tokens: &[String]) -> Result<bool, LitellmError> {
        let op = Op::Delete;
        let resp = self
            .send(op, "POST", "/key/delete", Some(json!({ "keys": tokens })))
            .await?;
        if resp.status == 404 {
            return Ok(false);
        }
        expect_ok(op, &resp)?;
        Ok(true)
    }
}

fn protocol(op: Op, detail: &str) -> LitellmError {
    LitellmError::Protocol {
        op,
        detail: detail.to_owned(),
    }
}

fn expect_ok(op: Op, resp: &OutboundResponse) -> Result<(), LitellmError> {
    if (200..300).contains(&resp.status) {
        Ok(())
    } else {
        Err(LitellmError::Status {
            op,
            status: resp.status,
        })
    }
}

fn decode<D: for<'de> Deserialize<'de>>(
    op: Op,
    resp: &OutboundResponse,
) -> Result<D, LitellmError> {
    // serde's message names the missing or mistyped field, not the data.
    serde_json::from_slice(&resp.body).map_err(|e| LitellmError::Protocol {
        op,
        detail: format!("the body does not parse: {e}"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    const MASTER: &str = "sk-master-0f7c1d";

    struct FakeLitellm {
        requests: RefCell<Vec<OutboundRequest>>,
        responses: RefCell<VecDeque<Result<OutboundResponse, TransportError>>>,
    }

    impl FakeLitellm {
        fn new(r: impl IntoIterator<Item = Result<OutboundResponse, TransportError>>) -> Self {
            Self {
                requests: RefCell::default(),
                responses: RefCell::new(r.into_iter().collect()),
            }
        }
    }

    impl HttpTransport for FakeLitellm {
        async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
            self.requests.borrow_mut().push(request);
            self.responses
                .borrow_mut()
                .pop_front()
                .expect("no response queued")
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(o) => o,
            Poll::Pending => panic!("the fake never pends"),
        }
    }

    fn answer(status: u16, body: serde_json::Value) -> Result<OutboundResponse, TransportError> {
        Ok(OutboundResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        })
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn config() -> LitellmConfig {
        LitellmConfig::from_variables(vars(&[
            (URL_VARIABLE, "http://litellm.test:4000/"),
            (MASTER_KEY_VARIABLE, MASTER),
        ]))
        .unwrap()
    }

    #[test]
    fn configuration_names_the_missing_variable_and_never_the_key() {
        let c = config();
        assert_eq!(c.base_url, "http://litellm.test:4000");
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert!(!format!("{c:?}").contains(MASTER));
        let with_prefix = LitellmConfig::from_variables(vars(&[
            (URL_VARIABLE, "https://gw.example/litellm"),
            (MASTER_KEY_VARIABLE, MASTER),
            (TIMEOUT_VARIABLE, "1500"),
        ]))
        .unwrap();
        assert_eq!(with_prefix.base_url, "https://gw.example/litellm");
        assert_eq!(with_prefix.timeout, Duration::from_millis(1500));

        let cases = [
            (vec![], ConfigError::MissingUrl),
            (vec![(URL_VARIABLE, "ftp://litellm")], ConfigError::BadUrl),
            (vec![(URL_VARIABLE, "litellm:4000")], ConfigError::BadUrl),
            (
                vec![(URL_VARIABLE, "http://u:pw@litellm")],
                ConfigError::BadUrl,
            ),
            (
                vec![(URL_VARIABLE, "http://litellm?x=1")],
                ConfigError::BadUrl,
            ),
            (vec![(URL_VARIABLE, "http://")], ConfigError::BadUrl),
            (
                vec![(URL_VARIABLE, "http://litellm:4000")],
                ConfigError::MissingMasterKey,
            ),
        ];
        for (pairs, expected) in cases {
            let err = LitellmConfig::from_variables(vars(&pairs)).unwrap_err();
            assert_eq!(err, expected, "{pairs:?}");
            let text = err.to_string();
            assert!(text.contains("`litellm_"), "{text}");
            assert!(!text.contains("pw@"), "{text}");
        }
    }

    #[test]
    fn calls_are_authenticated_with_the_master_key_and_bounded() {
        let fake = FakeLitellm::new([answer(
            200,
            json!({"keys": ["ab12"], "total_count": 1, "current_page": 1, "total_pages": 1}),
        )]);
        let client = LitellmClient::new(config(), &fake);
        let keys = block_on(client.tokens_with_alias("tenant/acme")).unwrap();
        assert_eq!(
            keys,
            AliasKeys {
                tokens: vec!["ab12".into()],
                total: 1
            }
        );
        let sent = &fake.requests.borrow()[0];
        assert_eq!(sent.method, "GET");
        assert_eq!(
            sent.url,
            "http://litellm.test:4000/key/list?key_alias=tenant%2Facme&size=100&page=1"
        );
        assert!(sent
            .headers
            .contains(&("authorization".into(), format!("Bearer {MASTER}"))));
        assert_eq!(sent.timeout, DEFAULT_TIMEOUT);
        assert!(!format!("{sent:?}").contains(MASTER), "Debug redacts it");
    }

    #[test]
    fn full_object_rows_give_their_token() {
        let fake = FakeLitellm::new([answer(
            200,
            json!({"keys": [{"token": "cd34", "key_alias": "tenant/a"}], "total_count": 3}),
        )]);
        let client = LitellmClient::new(config(), &fake);
        let keys = block_on(client.tokens_with_alias("tenant/a")).unwrap();
        assert_eq!(keys.tokens, ["cd34"]);
        assert_eq!(keys.total, 3);
    }

    #[test]
    fn info_and_delete_answers() {
        let fake = FakeLitellm::new([
            answer(
                200,
                json!({"key": "ab12", "info": {"key_name": "sk-...wxyz", "spend": 1.5,
                       "max_budget": null, "models": [], "blocked": null, "extra": {"x": 1}}}),
            ),
            answer(
                404,
                json!({"error": {"message": "Key not found in database", "type": "not_found_error",
                                 "param": "key", "code": "404"}}),
            ),
            answer(200, json!({"deleted_keys": ["ab12"]})),
            answer(
                404,
                json!({"error": {"message": "{'error': 'No keys found'}", "code": "404"}}),
            ),
        ]);
        let client = LitellmClient::new(config(), &fake);
        let info = block_on(client.info("ab12")).unwrap().unwrap();
        assert_eq!(info.key_name.as_deref(), Some("sk-...wxyz"));
        assert_eq!(info.spend.unwrap().to_string(), "1.5");
        assert_eq!(block_on(client.info("gone")).unwrap(), None);
        assert!(block_on(client.delete(&["ab12".into()])).unwrap());
        assert!(!block_on(client.delete(&["ab12".into()])).unwrap());
        let requests = fake.requests.borrow();
        assert_eq!(
            requests[0].url,
            "http://litellm.test:4000/key/info?key=ab12"
        );
        assert_eq!(requests[2].method, "POST");
        assert_eq!(requests[2].url, "http://litellm.test:4000/key/delete");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&requests[2].body).unwrap(),
            json!({"keys": ["ab12"]})
        );
    }

    #[test]
    fn failures_say_what_failed_without_upstream_detail() {
        let echoed = format!(
            "Authentication Error, Invalid proxy server token passed. Received API Key = sk-...{}",
            &MASTER[MASTER.len() - 4..]
        );
        let fake = FakeLitellm::new([
            answer(401, json!({"error": {"message": echoed, "code": "401"}})),
            answer(500, json!({"error": {"message": "db password=hunter2"}})),
            Err(TransportError::Connect(
                "tcp connect to 10.1.2.3:4000 refused".into(),
            )),
            Err(TransportError::Timeout),
            Err(TransportError::Denied("not allowed".into())),
            answer(200, json!({"unexpected": true})),
        ]);
        let client = LitellmClient::new(config(), &fake);
        let errors: Vec<LitellmError> = (0..6)
            .map(|_| block_on(client.tokens_with_alias("tenant/a")).unwrap_err())
            .collect();
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            texts[0].contains("refused the master key (HTTP 401)"),
            "{}",
            texts[0]
        );
        assert!(texts[0].contains("`litellm_master_key`"), "{}", texts[0]);
        assert_eq!(
            texts[1],
            "LiteLLM answered HTTP 500 to listing keys (GET /key/list)"
        );
        assert_eq!(
            texts[2],
            "LiteLLM is unreachable while listing keys (GET /key/list)"
        );
        assert!(texts[3].contains("did not answer in time"), "{}", texts[3]);
        assert!(texts[4].contains("`litellm_allowed_host`"), "{}", texts[4]);
        assert_eq!(
            texts[5],
            "unexpected answer from LiteLLM to listing keys (GET /key/list)"
        );
        for (e, text) in errors.iter().zip(&texts) {
            for secret in [&MASTER[MASTER.len() - 4..], "hunter2", "10.1.2.3"] {
                assert!(!text.contains(secret), "{text}");
            }
            assert!(!e.cause().contains("hunter2"), "bodies are not even logged");
        }
        assert!(errors[2].cause().contains("10.1.2.3"), "logged, not sent");
    }
}
