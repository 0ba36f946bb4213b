//! Fault rules and the request log: test plumbing that is part of no
//! upstream API, so one rule format serves every stand-in and tests drive
//! them alike (from Rust through [`crate::Handle`], over HTTP through each
//! stand-in's `/_standin/` endpoints).

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A rule that makes matching requests fail (or slow down).
///
/// JSON form (camelCase; `kind` selects the variant):
/// `{"method":"POST","pathContains":"/tenants","times":1,"kind":"status","status":503}`.
/// What a path means, and how an error is answered, is each stand-in's
/// business (see [`crate::Api`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// HTTP method to match, or `"*"` for any (the default).
    #[serde(default = "any_method")]
    pub method: String,
    /// Substring the request target (path plus `?query` when there is one,
    /// as sent, percent-encoding included) must contain; empty matches
    /// every API request (`/_standin/` requests are never faulted).
    #[serde(default)]
    pub path_contains: String,
    /// How many matching requests the rule fires for; `None` until the
    /// rule is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// What happens to a matching request.
    #[serde(flatten)]
    pub kind: FaultKind,
}

fn any_method() -> String {
    "*".to_string()
}

/// What a [`Fault`] does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FaultKind {
    /// Answer the stand-in's error for this HTTP code (its protocol's
    /// error body, see [`crate::Api::injected`]) without processing.
    Status {
        /// The HTTP status code.
        status: u16,
    },
    /// Wait, then process normally. The request is processed even if the
    /// client gave up meanwhile (as a real server would have), so a
    /// client-side timeout may still leave the change applied.
    Delay {
        /// Milliseconds to wait.
        delay_ms: u64,
    },
    /// Close the connection without answering.
    Drop,
    /// Process (and apply) the request, then answer the error for this
    /// code: the write succeeded but the client saw a failure.
    AfterApply {
        /// The HTTP status code of the error answered.
        status: u16,
    },
}

impl FaultKind {
    /// The kind's JSON name, for the request log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Delay { .. } => "delay",
            Self::Drop => "drop",
            Self::AfterApply { .. } => "afterApply",
        }
    }
}

impl Fault {
    fn new(method: &str, path_contains: &str, kind: FaultKind) -> Self {
        Self {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            times: None,
            kind,
        }
    }

    /// Answer `status` to matching requests.
    pub fn status(method: &str, path_contains: &str, status: u16) -> Self {
        Self::new(method, path_contains, FaultKind::Status { status })
    }

    /// Delay matching requests by `delay`, then process them.
    pub fn delay(method: &str, path_contains: &str, delay: Duration) -> Self {
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        Self::new(method, path_contains, FaultKind::Delay { delay_ms })
    }

    /// Close the connection of matching requests without an answer.
    pub fn drop_connection(method: &str, path_contains: &str) -> Self {
        Self::new(method, path_contains, FaultKind::Drop)
    }

    /// Apply matching requests, then answer `status`.
    pub fn after_apply(method: &str, path_contains: &str, status: u16) -> Self {
        Self::new(method, path_contains, FaultKind::AfterApply { status })
    }

    /// Limit the rule to the first `n` matching requests.
    #[must_use]
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(method))
            && target.contains(&self.path_contains)
    }

    /// Whether the fault can be served (a real HTTP error status); the
    /// `/_standin/` endpoints refuse the others.
    pub fn validate(&self) -> Result<(), String> {
        match self.kind {
            FaultKind::Status { status } | FaultKind::AfterApply { status }
                if !(400..=599).contains(&status) =>
            {
                Err(format!(
                    "status must be an HTTP error code (400-599), got {status}"
                ))
            }
            _ => Ok(()),
        }
    }
}

/// An installed fault with its id and how often it fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// Id for `DELETE /_standin/faults/{id}` and [`crate::Handle::remove_fault`].
    pub id: u64,
    /// The rule as installed.
    #[serde(flatten)]
    pub fault: Fault,
    /// How many requests it fired for so far.
    pub hits: u64,
}

/// The installed faults, first match wins.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    next_id: u64,
    rules: Vec<FaultRule>,
}

impl Faults {
    pub(crate) fn add(&mut self, fault: Fault) -> u64 {
        self.next_id += 1;
        self.rules.push(FaultRule {
            id: self.next_id,
            fault,
            hits: 0,
        });
        self.next_id
    }

    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    pub(crate) fn list(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    /// The fault for this request, if a rule with budget left matches.
    pub(crate) fn take(&mut self, method: &str, target: &str) -> Option<FaultKind> {
        let rule = self.rules.iter_mut().find(|r| {
            r.fault.matches(method, target) && r.fault.times.is_none_or(|t| r.hits < u64::from(t))
        })?;
        rule.hits += 1;
        Some(rule.fault.kind.clone())
    }
}

/// One request the stand-in received (admin requests are not logged, and
/// neither are bodies or headers: they may carry credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// The fault kind that fired for this request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// The request log, bounded so a long `make up` session cannot grow it
/// without limit (oldest entries go first).
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    records: VecDeque<RequestRecord>,
}

const MAX_RECORDS: usize = 100_000;

impl RequestLog {
    pub(crate) fn push(&mut self, record: RequestRecord) {
        if self.records.len() == MAX_RECORDS {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    pub(crate) fn list(&self) -> Vec<RequestRecord> {
        self.records.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.records.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_shapes() {
        let f: Fault = serde_json::from_str(
            r#"{"method":"POST","pathContains":"/tenants","times":2,"kind":"status","status":503}"#,
        )
        .unwrap();
        assert_eq!(f, Fault::status("POST", "/tenants", 503).times(2));
        let d: Fault = serde_json::from_str(r#"{"kind":"delay","delayMs":50}"#).unwrap();
        assert_eq!(d, Fault::delay("*", "", Duration::from_millis(50)));
        let a: Fault = serde_json::from_str(r#"{"kind":"afterApply","status":500}"#).unwrap();
        assert_eq!(a.kind, FaultKind::AfterApply { status: 500 });
        let x: Fault = serde_json::from_str(r#"{"kind":"drop","pathContains":"/x"}"#).unwrap();
        assert_eq!(x, Fault::drop_connection("*", "/x"));
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"method":"*","pathContains":"","kind":"delay","delayMs":50})
        );
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"explode"}"#).is_err());
        assert!(Fault::status("*", "", 200).validate().is_err());
        assert!(Fault::after_apply("*", "", 600).validate().is_err());
        assert!(Fault::status("*", "", 599).validate().is_ok());
    }

    #[test]
    fn times_limits_a_rule_and_first_match_wins() {
        let mut faults = Faults::default();
        faults.add(Fault::status("post", "/tenants", 500).times(1));
        faults.add(Fault::drop_connection("*", "/tenants"));
        assert_eq!(faults.take("GET", "/key/list"), None);
        assert_eq!(
            faults.take("POST", "/apis/x/tenants"),
            Some(FaultKind::Status { status: 500 })
        );
        assert_eq!(
            faults.take("POST", "/apis/x/tenants"),
            Some(FaultKind::Drop)
        );
        assert_eq!(faults.list()[0].hits, 1);
        assert!(faults.remove(1));
        assert!(!faults.remove(1));
    }

    #[test]
    fn the_request_log_drops_its_oldest_entries() {
        let mut log = RequestLog::default();
        for i in 0..=MAX_RECORDS {
            log.push(RequestRecord {
                method: "GET".into(),
                path: format!("/{i}"),
                query: None,
                status: Some(200),
                fault: None,
            });
        }
        let records = log.list();
        assert_eq!(records.len(), MAX_RECORDS);
        assert_eq!(records[0].path, "/1");
        log.clear();
        assert!(log.list().is_empty());
    }
}
