//! What the usage routes take: the ingestion body with its validation, and
//! the query parameters the reads share. The OpenAPI schemas state exactly
//! what the validation enforces (a schema-valid value is accepted, any
//! other is a 400 naming the field or parameter).

use chrono::{DateTime, Duration, TimeZone, Utc};
use cp_http::ids::{parse_id, UUID_PATTERN};
pub(super) use cp_http::time::parse_timestamp;
use cp_http::validate::{
    dns_label, dns_label_schema, integer_schema, pattern_string, Validator, DNS_LABEL_PATTERN,
};
use cp_http::{ApiError, ApiRequest};
use serde::Deserialize;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

use super::views::{Bucket, GroupBy};
use crate::models::{is_model_name, MODEL_NAME_MAX, MODEL_NAME_PATTERN};

/// Most records in one batch.
pub(super) const MAX_RECORDS: usize = 1000;
/// OpenAPI pattern of a request id: 1-128 visible ASCII characters.
pub(super) const REQUEST_ID_PATTERN: &str = "^[!-~]{1,128}$";
/// Longest request id.
pub(super) const REQUEST_ID_MAX: usize = 128;
/// Most tokens of one kind in one record.
pub(super) const MAX_TOKENS: i64 = 1_000_000_000;
/// Longest latency of one record, in milliseconds (a day).
pub(super) const MAX_LATENCY_MS: i64 = 86_400_000;
/// How far in the future a record's timestamp may be (gateway clock skew).
pub(super) const FUTURE_SKEW_SECONDS: i64 = 300;
/// Most field errors reported for one batch (a batch of 1000 bad records
/// would otherwise answer with thousands).
const MAX_FIELD_ERRORS: usize = 100;

// ------------------------------------------------------------------- times

/// The earliest instant the usage store handles (record timestamps before
/// it are refused; read ranges are clamped to it).
pub(super) fn min_time() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

/// The latest instant read ranges reach (later bounds are clamped to it).
pub(super) fn max_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first instant of `t`'s UTC calendar month.
pub(super) fn month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Datelike;
    Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(t)
}

// -------------------------------------------------------------- ingestion

fn request_id_schema() -> Object {
    let mut s = pattern_string(
        false,
        REQUEST_ID_PATTERN,
        REQUEST_ID_MAX,
        "The gateway's id of the LLM request: 1-128 visible ASCII characters, unique per tenant. \
         A record whose tenant already has this id (or repeats one of the batch) is ignored and \
         counted as a duplicate.",
    );
    s.min_length = Some(1);
    s
}

fn tenant_schema() -> Object {
    let mut s = pattern_string(
        true,
        DNS_LABEL_PATTERN,
        63,
        "The tenant (an existing tenant, any state). Required for operators and access tokens; \
         a gateway key may omit it (its own tenant) and may name no other (403). null: absent.",
    );
    s.min_length = Some(1);
    s
}

fn key_id_schema() -> Object {
    let mut s = pattern_string(
        true,
        UUID_PATTERN,
        36,
        "The gateway key that made the request. Defaults to the calling gateway key, which may \
         name no other (403). null: absent.",
    );
    s.format = Some(SchemaFormat::Custom("uuid".into()));
    s
}

fn model_schema() -> Object {
    let mut s = pattern_string(
        false,
        MODEL_NAME_PATTERN,
        MODEL_NAME_MAX,
        "A registered model's name (an unknown one is a 400 naming records[i].model); the record \
         is priced at the model's current prices.",
    );
    s.min_length = Some(1);
    s
}

fn input_schema() -> Object {
    integer_schema(
        false,
        0,
        MAX_TOKENS,
        "Input (prompt) tokens, cached ones included (0-1000000000).",
    )
}

fn output_schema() -> Object {
    integer_schema(
        false,
        0,
        MAX_TOKENS,
        "Output (completion) tokens (0-1000000000).",
    )
}

fn cached_schema() -> Object {
    integer_schema(
        true,
        0,
        MAX_TOKENS,
        "The part of inputTokens served from the provider's prompt cache (at most inputTokens; \
         priced at the model's cached input price when it has one). null or absent: 0.",
    )
}

fn latency_schema() -> Object {
    integer_schema(
        false,
        0,
        MAX_LATENCY_MS,
        "Latency in milliseconds (0-86400000).",
    )
}

fn cache_hit_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
        .description(Some(
            "Served from the gateway's response cache. null or absent: false.",
        ))
        .build()
}

fn timestamp_schema() -> Object {
    cp_http::time::timestamp_schema(
        false,
        "When the request happened: RFC 3339 with an upper-case T and Z or an offset \
         (2026-11-25T10:00:00.123Z), from 1970 to at most 5 minutes in the future.",
    )
}

fn records_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(utoipa::openapi::RefOr::Ref(
            utoipa::openapi::Ref::from_schema_name("UsageRecordInput"),
        ))
        .min_items(Some(1))
        .max_items(Some(MAX_RECORDS))
        .description(Some(
            "1 to 1000 records, validated together: one bad record rejects the batch and \
             nothing is written.",
        ))
        .build()
}

/// Body of `POST /token-usage`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageBatch {
    /// The records.
    #[schema(schema_with = records_schema)]
    records: Vec<UsageRecordInput>,
}

/// One LLM request as a gateway reports it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageRecordInput {
    /// The gateway's request id.
    #[schema(schema_with = request_id_schema, required = true)]
    request_id: Option<String>,
    /// The tenant.
    #[schema(schema_with = tenant_schema)]
    tenant: Option<String>,
    /// The gateway key.
    #[schema(schema_with = key_id_schema)]
    key_id: Option<String>,
    /// The model.
    #[schema(schema_with = model_schema, required = true)]
    model: Option<String>,
    /// Input tokens.
    #[schema(schema_with = input_schema, required = true)]
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    input_tokens: Option<i64>,
    /// Output tokens.
    #[schema(schema_with = output_schema, required = true)]
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    output_tokens: Option<i64>,
    /// Cached input tokens.
    #[schema(schema_with = cached_schema)]
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    cached_tokens: Option<i64>,
    /// A response-cache hit.
    #[schema(schema_with = cache_hit_schema)]
    cache_hit: Option<bool>,
    /// Latency.
    #[schema(schema_with = latency_schema, required = true)]
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    latency_ms: Option<i64>,
    /// When.
    #[schema(schema_with = timestamp_schema, required = true)]
    timestamp: Option<String>,
}

/// Who reports the batch, as far as the records are concerned.
#[derive(Debug, Clone, Copy)]
pub(super) enum Reporter<'a> {
    /// A gateway key: its tenant and id are the records' defaults and the
    /// only values they may name.
    Key {
        /// The key's tenant.
        tenant: &'a str,
        /// The key's id.
        id: &'a str,
    },
    /// The operator or an access token: records name their tenant.
    Admin,
}

/// A validated record (its tenant and model not yet looked up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ValidRecord {
    /// Request id.
    pub request_id: String,
    /// Tenant.
    pub tenant: String,
    /// Gateway key id (canonical lower-case UUID).
    pub key_id: Option<String>,
    /// Model name.
    pub model: String,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cached input tokens.
    pub cached_tokens: i64,
    /// Response-cache hit.
    pub cache_hit: bool,
    /// Latency.
    pub latency_ms: i64,
    /// When.
    pub occurred_at: DateTime<Utc>,
}

/// A validator that stops recording past [`MAX_FIELD_ERRORS`].
struct Capped {
    v: Validator,
    n: usize,
}

impl Capped {
    fn error(&mut self, field: String, message: impl Into<String>) {
        if self.n < MAX_FIELD_ERRORS {
            self.v.error(field, message);
        }
        self.n += 1;
    }
}

impl UsageBatch {
    /// A 403 when a gateway key names another tenant or key than its own
    /// (checked before anything else: the caller may not report it at all).
    pub(super) fn check_reporter(&self, reporter: Reporter<'_>) -> Result<(), ApiError> {
        let Reporter::Key { tenant, id } = reporter else {
            return Ok(());
        };
        for (i, r) in self.records.iter().enumerate() {
            if r.tenant.as_deref().is_some_and(|t| t != tenant) {
                return Err(ApiError::Forbidden(format!(
                    "records[{i}].tenant: a gateway key only reports usage of its own tenant"
                )));
            }
            if r.key_id
                .as_deref()
                .is_some_and(|k| !k.eq_ignore_ascii_case(id))
            {
                return Err(ApiError::Forbidden(format!(
                    "records[{i}].keyId: a gateway key only reports its own usage"
                )));
            }
        }
        Ok(())
    }

    /// Validates every record (all problems at once, up to a hundred);
    /// `now` bounds the timestamps.
    pub(super) fn validate(
        self,
        reporter: Reporter<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ValidRecord>, ApiError> {
        let mut v = Capped {
            v: Validator::new(),
            n: 0,
        };
        if self.records.is_empty() || self.records.len() > MAX_RECORDS {
            v.error(
                "records".into(),
                format!("must hold 1 to {MAX_RECORDS} records"),
            );
        }
        let latest = now + Duration::seconds(FUTURE_SKEW_SECONDS);
        let mut valid = Vec::with_capacity(self.records.len());
        for (i, r) in self.records.into_iter().enumerate() {
            let f = |name: &str| format!("records[{i}].{name}");
            let request_id = r.request_id.unwrap_or_default();
            if request_id.is_empty() {
                v.error(f("requestId"), "is required");
            } else if request_id.len() > REQUEST_ID_MAX
                || !request_id.bytes().all(|b| (b'!'..=b'~').contains(&b))
            {
                v.error(
                    f("requestId"),
                    "must be 1-128 visible ASCII characters (no spaces)",
                );
            }
            let tenant = match (r.tenant, reporter) {
                (Some(t), _) => {
                    if let Err(msg) = dns_label(&t) {
                        v.error(f("tenant"), msg);
                    }
                    t
                }
                (None, Reporter::Key { tenant, .. }) => tenant.to_owned(),
                (None, Reporter::Admin) => {
                    v.error(f("tenant"), "is required");
                    String::new()
                }
            };
            let key_id = match (r.key_id, reporter) {
                (Some(k), _) => match parse_id(&k) {
                    Ok(id) => Some(id.to_string()),
                    Err(msg) => {
                        v.error(f("keyId"), msg);
                        None
                    }
                },
                (None, Reporter::Key { id, .. }) => Some(id.to_owned()),
                (None, Reporter::Admin) => None,
            };
            let model = r.model.unwrap_or_default();
            if model.is_empty() {
                v.error(f("model"), "is required");
            } else if !is_model_name(&model) {
                v.error(
                    f("model"),
                    "must be a model name (1-128 of A-Z, a-z, 0-9, '-', '.', '_', ':', '/')",
                );
            }
            let mut count = |name: &str, value: Option<i64>, max: i64, required: bool| {
                match value {
                    None if required => v.error(f(name), "is required"),
                    Some(n) if !(0..=max).contains(&n) => {
                        v.error(f(name), format!("must be between 0 and {max}"))
                    }
                    _ => {}
                }
                value.unwrap_or_default()
            };
            let input_tokens = count("inputTokens", r.input_tokens, MAX_TOKENS, true);
            let output_tokens = count("outputTokens", r.output_tokens, MAX_TOKENS, true);
            let cached_tokens = count("cachedTokens", r.cached_tokens, MAX_TOKENS, false);
            let latency_ms = count("latencyMs", r.latency_ms, MAX_LATENCY_MS, true);
            if cached_tokens > input_tokens && (0..=MAX_TOKENS).contains(&cached_tokens) {
                v.error(f("cachedTokens"), "must not exceed inputTokens");
            }
            let occurred_at = match r.timestamp.as_deref() {
                None => {
                    v.error(f("timestamp"), "is required");
                    now
                }
                Some(s) => match parse_timestamp(s) {
                    None => {
                        v.error(
                            f("timestamp"),
                            "must be an RFC 3339 timestamp such as 2026-11-25T10:00:00Z",
                        );
                        now
                    }
                    Some(t) if t > latest => {
                        v.error(
                            f("timestamp"),
                            "must not be more than 5 minutes in the future",
                        );
                        now
                    }
                    Some(t) if t < min_time() => {
                        v.error(f("timestamp"), "must not be before 1970-01-01T00:00:00Z");
                        now
                    }
                    Some(t) => t,
                },
            };
            valid.push(ValidRecord {
                request_id,
                tenant,
                key_id,
                model,
                input_tokens,
                output_tokens,
                cached_tokens,
                cache_hit: r.cache_hit.unwrap_or(false),
                latency_ms,
                occurred_at,
            });
        }
        v.v.finish()?;
        Ok(valid)
    }
}

// -------------------------------------------------------- query parameters

/// The filters every read takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Filters {
    /// One tenant.
    pub tenant: Option<String>,
    /// One gateway key (canonical UUID).
    pub key_id: Option<String>,
    /// One model.
    pub model: Option<String>,
}

/// A half-open time range `[from, to)`; empty when `to` is not after
/// `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Range {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
}

fn time_param(req: &ApiRequest, v: &mut Validator, name: &str) -> Option<DateTime<Utc>> {
    let raw = req.query_param(name)?;
    match parse_timestamp(&raw) {
        // Outside what the store holds, a bound changes nothing: clamp it.
        Some(t) => Some(t.clamp(min_time(), max_time())),
        None => {
            v.error(
                name,
                "must be an RFC 3339 timestamp such as 2026-11-25T10:00:00Z (upper-case T and Z)",
            );
            None
        }
    }
}

/// Reads `tenant`, `keyId` and `model`.
pub(super) fn filters(req: &ApiRequest, v: &mut Validator) -> Filters {
    let tenant = req.query_param("tenant");
    if let Some(t) = &tenant {
        if let Err(msg) = dns_label(t) {
            v.error("tenant", msg);
        }
    }
    let key_id = req.query_param("keyId").and_then(|k| match parse_id(&k) {
        Ok(id) => Some(id.to_string()),
        Err(msg) => {
            v.error("keyId", msg);
            None
        }
    });
    let model = req.query_param("model");
    if let Some(m) = &model {
        if !is_model_name(m) {
            v.error(
                "model",
                "must be a model name (1-128 of A-Z, a-z, 0-9, '-', '.', '_', ':', '/')",
            );
        }
    }
    Filters {
        tenant,
        key_id,
        model,
    }
}

/// Reads `from` and `to`, defaulting to the current UTC calendar month up
/// to `now`.
pub(super) fn range(req: &ApiRequest, v: &mut Validator, now: DateTime<Utc>) -> Range {
    let from = time_param(req, v, "from").unwrap_or_else(|| month_start(now));
    let to = time_param(req, v, "to").unwrap_or(now);
    Range { from, to }
}

/// Reads `from` and `to` without defaults (the raw records list).
pub(super) fn open_range(
    req: &ApiRequest,
    v: &mut Validator,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    (time_param(req, v, "from"), time_param(req, v, "to"))
}

/// Reads `groupBy` (default `tenant`).
pub(super) fn group_by(req: &ApiRequest, v: &mut Validator) -> GroupBy {
    match req.query_param("groupBy").as_deref() {
        None | Some("tenant") => GroupBy::Tenant,
        Some("key") => GroupBy::Key,
        Some("model") => GroupBy::Model,
        Some(_) => {
            v.error("groupBy", "must be one of: tenant, key, model");
            GroupBy::Tenant
        }
    }
}

/// Reads `bucket` (default `hour`).
pub(super) fn bucket(req: &ApiRequest, v: &mut Validator) -> Bucket {
    match req.query_param("bucket").as_deref() {
        None | Some("hour") => Bucket::Hour,
        Some("minute") => Bucket::Minute,
        Some("day") => Bucket::Day,
        Some(_) => {
            v.error("bucket", "must be one of: minute, hour, day");
            Bucket::Hour
        }
    }
}

// ------------------------------------------------- query parameters (docs)

fn query(name: &str, description: &str, schema: Object) -> Parameter {
    cp_http::params::query_param(name, description, schema)
}

fn time_schema(description: &str) -> Object {
    cp_http::time::timestamp_schema(false, description)
}

fn enum_schema(values: &[&'static str], description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .build()
}

fn filter_params() -> Vec<Parameter> {
    let tenant = dns_label_schema(false, "Only this tenant's usage.");
    let mut key = pattern_string(false, UUID_PATTERN, 36, "Only this gateway key's usage.");
    key.format = Some(SchemaFormat::Custom("uuid".into()));
    let mut model = pattern_string(
        false,
        MODEL_NAME_PATTERN,
        MODEL_NAME_MAX,
        "Only this model's usage.",
    );
    model.min_length = Some(1);
    vec![
        query("tenant", "Only this tenant's usage.", tenant),
        query("keyId", "Only this gateway key's usage.", key),
        query("model", "Only this model's usage.", model),
    ]
}

fn range_params(defaults: bool) -> Vec<Parameter> {
    let (from, to) = if defaults {
        (
            "Start of the range, inclusive (RFC 3339, upper-case T and Z; clamped to 1970-9999). \
             Default: the first instant of the current UTC calendar month. A range whose `to` \
             is not after `from` is empty.",
            "End of the range, exclusive (RFC 3339). Default: now.",
        )
    } else {
        (
            "Only records at or after this instant (RFC 3339, upper-case T and Z).",
            "Only records before this instant (RFC 3339).",
        )
    };
    vec![
        query("from", from, time_schema(from)),
        query("to", to, time_schema(to)),
    ]
}

/// `from`, `to` (defaulting to the month to date) and the filters.
pub(super) struct UsageQuery;

impl IntoParams for UsageQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut p = range_params(true);
        p.extend(filter_params());
        p
    }
}

/// `from`, `to` (no defaults) and the filters of the raw records list.
pub(super) struct RecordsQuery;

impl IntoParams for RecordsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut p = filter_params();
        p.extend(range_params(false));
        p
    }
}

/// `groupBy`.
pub(super) struct GroupByQuery;

impl IntoParams for GroupByQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let d = "What the totals are grouped by (default tenant).";
        vec![query(
            "groupBy",
            d,
            enum_schema(&["tenant", "key", "model"], d),
        )]
    }
}

/// `bucket`.
pub(super) struct BucketQuery;

impl IntoParams for BucketQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let d = "Bucket width (default hour): UTC minutes (from raw records), hours or days (from \
                 the hourly rollup). At most 10000 buckets fit in the range (a 400 naming \
                 `bucket` otherwise).";
        vec![query(
            "bucket",
            d,
            enum_schema(&["minute", "hour", "day"], d),
        )]
    }
}

/// `{tenantName}` of the spend and LiteLLM key routes.
pub(crate) struct TenantNamePath;

impl IntoParams for TenantNamePath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let description = "The tenant's name (a DNS-1123 label).";
        vec![cp_http::params::path_param(
            "tenantName",
            description,
            dns_label_schema(false, description),
        )]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cp_http::Method;

    fn t(s: &str) -> DateTime<Utc> {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn timestamps_are_strict_rfc3339() {
        assert_eq!(
            t("2026-11-25T10:00:00.123456Z").timestamp_micros(),
            1_795_600_800_123_456
        );
        assert_eq!(t("2026-11-25T11:00:00+01:00"), t("2026-11-25T10:00:00Z"));
        for bad in [
            "",
            "2026-11-25",
            "2026-11-25 10:00:00Z",
            "2026-11-25t10:00:00Z",
            "2026-11-25T10:00:00z",
            "2026-11-25T10:00:00",
            "2026-02-30T10:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T23:59:60Z",
            "2026-11-25T10:00:00.Z",
            "2026-11-25T10:00:00+0100",
            "2026-11-25T10:00:00+24:00",
            "+2026-11-25T10:00:00Z",
        ] {
            assert!(parse_timestamp(bad).is_none(), "{bad}");
        }
        assert_eq!(
            month_start(t("2026-11-25T10:00:00Z")),
            t("2026-11-01T00:00:00Z")
        );
    }

    fn batch(json: serde_json::Value) -> UsageBatch {
        serde_json::from_value(json).unwrap()
    }

    fn record() -> serde_json::Value {
        serde_json::json!({
            "requestId": "req-1", "tenant": "acme", "model": "gpt-4o",
            "inputTokens": 10, "outputTokens": 5, "latencyMs": 120,
            "timestamp": "2026-11-25T10:00:00Z"
        })
    }

    fn now() -> DateTime<Utc> {
        t("2026-11-25T10:00:00Z")
    }

    fn fields(err: ApiError) -> Vec<String> {
        err.field_errors().iter().map(|f| f.field.clone()).collect()
    }

    #[test]
    fn a_record_validates_with_defaults() {
        let r = batch(serde_json::json!({ "records": [record()] }))
            .validate(Reporter::Admin, now())
            .unwrap();
        assert_eq!(r[0].cached_tokens, 0);
        assert!(!r[0].cache_hit);
        assert_eq!(r[0].key_id, None);
        assert_eq!(r[0].tenant, "acme");
    }

    #[test]
    fn every_bad_field_is_named_with_its_index() {
        let mut bad = record();
        bad["requestId"] = "has space".into();
        bad["model"] = "no spaces allowed".into();
        bad["inputTokens"] = 5.into();
        bad["cachedTokens"] = 6.into();
        bad["latencyMs"] = (-1).into();
        bad["timestamp"] = "2026-11-25T10:06:00Z".into();
        bad["keyId"] = "nope".into();
        let mut no_tenant = record();
        no_tenant.as_object_mut().unwrap().remove("tenant");
        let err = batch(serde_json::json!({ "records": [record(), bad, no_tenant] }))
            .validate(Reporter::Admin, now())
            .unwrap_err();
        assert_eq!(
            fields(err),
            [
                "records[1].requestId",
                "records[1].keyId",
                "records[1].model",
                "records[1].latencyMs",
                "records[1].cachedTokens",
                "records[1].timestamp",
                "records[2].tenant",
            ]
        );
        let err = batch(serde_json::json!({ "records": [] }))
            .validate(Reporter::Admin, now())
            .unwrap_err();
        assert_eq!(fields(err), ["records"]);
        let mut old = record();
        old["timestamp"] = "1969-12-31T23:59:59Z".into();
        let err = batch(serde_json::json!({ "records": [old] }))
            .validate(Reporter::Admin, now())
            .unwrap_err();
        assert_eq!(fields(err), ["records[0].timestamp"]);
    }

    #[test]
    fn a_gateway_key_reports_only_its_own_tenant_and_key() {
        let key = Reporter::Key {
            tenant: "acme",
            id: "0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f",
        };
        let mut mine = record();
        mine.as_object_mut().unwrap().remove("tenant");
        let b = batch(serde_json::json!({ "records": [mine.clone(), record()] }));
        b.check_reporter(key).unwrap();
        let r = b.validate(key, now()).unwrap();
        assert_eq!(r[0].tenant, "acme");
        assert_eq!(
            r[0].key_id.as_deref(),
            Some("0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f")
        );
        let mut other = record();
        other["tenant"] = "globex".into();
        let err = batch(serde_json::json!({ "records": [mine.clone(), other] }))
            .check_reporter(key)
            .unwrap_err();
        assert_eq!(err.status(), 403);
        let mut other_key = mine;
        other_key["keyId"] = "0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e60".into();
        assert_eq!(
            batch(serde_json::json!({ "records": [other_key] }))
                .check_reporter(key)
                .unwrap_err()
                .status(),
            403
        );
    }

    #[test]
    fn query_parameters_are_validated_by_name() {
        let req = ApiRequest::new(
            Method::Get,
            "/x?from=yesterday&to=2026-11-25T10:00:00Z&tenant=Bad_Name&keyId=1&model=a%20b&groupBy=x&bucket=week",
        );
        let mut v = Validator::new();
        range(&req, &mut v, now());
        filters(&req, &mut v);
        group_by(&req, &mut v);
        bucket(&req, &mut v);
        assert_eq!(
            fields(v.finish().unwrap_err()),
            ["from", "tenant", "keyId", "model", "groupBy", "bucket"]
        );
        let req = ApiRequest::new(Method::Get, "/x?from=0001-01-01T00:00:00%2B23:59");
        let mut v = Validator::new();
        let r = range(&req, &mut v, now());
        v.finish().unwrap();
        assert_eq!(r.from, min_time());
        assert_eq!(r.to, now());
        let r = range(
            &ApiRequest::new(Method::Get, "/x"),
            &mut Validator::new(),
            now(),
        );
        assert_eq!(r.from, t("2026-11-01T00:00:00Z"));
    }
}
