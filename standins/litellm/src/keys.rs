//! The virtual keys: LiteLLM's `LiteLLM_VerificationToken` table, in
//! memory.
//!
//! As in LiteLLM, a key is stored under its token, the SHA-256 hex digest
//! of the raw key (`sk-` + 22 URL-safe base64 characters, 16 random bytes),
//! and the raw key leaves the stand-in exactly once: in the answer to
//! `/key/generate`. `key_name` is LiteLLM's masked display form of the key
//! (`sk-...` and its last four characters); aliases are unique across keys.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Months, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Who LiteLLM records as creator when the master key acts
/// (`litellm_proxy_admin_name`).
pub(crate) const PROXY_ADMIN_NAME: &str = "default_user_id";

/// The token (digest) LiteLLM stores for a raw key.
pub fn hash_token(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

/// LiteLLM's `_hash_token_if_needed`: raw keys (`sk-...`) are hashed, anything
/// else is taken to be a token already.
pub(crate) fn token_of(key: &str) -> String {
    if key.starts_with("sk-") {
        hash_token(key)
    } else {
        key.to_string()
    }
}

/// LiteLLM's `abbreviate_api_key`: `sk-...` and the last four characters.
pub fn abbreviate(raw: &str) -> String {
    let tail: String = {
        let chars: Vec<char> = raw.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    format!("sk-...{tail}")
}

/// A fresh raw key, as LiteLLM makes them (`secrets.token_urlsafe(16)`).
fn new_raw_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(format!("sk-{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// LiteLLM's duration strings: a number and `s`, `m`, `h`, `d`, `w` or
/// `mo` (its regex matches a prefix, so `30days` is 30 days); the time
/// `from` plus that duration. Anything else LiteLLM rejects.
pub(crate) fn add_duration(from: DateTime<Utc>, text: &str) -> Option<DateTime<Utc>> {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let value: u32 = text.get(..digits)?.parse().ok()?;
    let unit = &text[digits..];
    let seconds = |n: i64| from.checked_add_signed(chrono::TimeDelta::try_seconds(n)?);
    match unit {
        _ if unit.starts_with("mo") => from.checked_add_months(Months::new(value)),
        _ if unit.starts_with('s') => seconds(i64::from(value)),
        _ if unit.starts_with('m') => seconds(i64::from(value) * 60),
        _ if unit.starts_with('h') => seconds(i64::from(value) * 3600),
        _ if unit.starts_with('d') => seconds(i64::from(value) * 86_400),
        _ if unit.starts_with('w') => seconds(i64::from(value) * 604_800),
        _ => None,
    }
}

/// Timestamps as LiteLLM's JSON shows them (pydantic, UTC).
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// One stored key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyRecord {
    pub(crate) token: String,
    pub(crate) key_name: String,
    pub(crate) key_alias: Option<String>,
    pub(crate) spend: f64,
    pub(crate) max_budget: Option<f64>,
    pub(crate) expires: Option<DateTime<Utc>>,
    pub(crate) models: Vec<String>,
    pub(crate) aliases: Map<String, Value>,
    pub(crate) config: Map<String, Value>,
    pub(crate) permissions: Map<String, Value>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) user_id: Option<String>,
    pub(crate) team_id: Option<String>,
    pub(crate) tpm_limit: Option<i64>,
    pub(crate) rpm_limit: Option<i64>,
    pub(crate) max_parallel_requests: Option<i64>,
    pub(crate) blocked: Option<bool>,
    pub(crate) budget_duration: Option<String>,
    pub(crate) budget_reset_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl KeyRecord {
    /// The row as LiteLLM serialises it (`/key/list` with
    /// `return_full_object=true`); `/key/info` drops `token`.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "token": self.token,
            "key_name": self.key_name,
            "key_alias": self.key_alias,
            "soft_budget_cooldown": false,
            "spend": self.spend,
            "expires": self.expires.map(timestamp),
            "models": self.models,
            "aliases": self.aliases,
            "config": self.config,
            "user_id": self.user_id,
            "team_id": self.team_id,
            "permissions": self.permissions,
            "max_parallel_requests": self.max_parallel_requests,
            "metadata": self.metadata,
            "blocked": self.blocked,
            "tpm_limit": self.tpm_limit,
            "rpm_limit": self.rpm_limit,
            "max_budget": self.max_budget,
            "budget_duration": self.budget_duration,
            "budget_reset_at": self.budget_reset_at.map(timestamp),
            "allowed_cache_controls": [],
            "allowed_routes": [],
            "model_spend": {},
            "model_max_budget": {},
            "budget_id": null,
            "organization_id": null,
            "object_permission_id": null,
            "created_at": timestamp(self.created_at),
            "created_by": PROXY_ADMIN_NAME,
            "updated_at": timestamp(self.updated_at),
            "updated_by": PROXY_ADMIN_NAME,
        })
    }
}

/// What `/key/generate` was asked for (already type-checked).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NewKey {
    pub(crate) key: Option<String>,
    pub(crate) key_alias: Option<String>,
    pub(crate) duration: Option<String>,
    pub(crate) models: Vec<String>,
    pub(crate) max_budget: Option<f64>,
    pub(crate) budget_duration: Option<String>,
    pub(crate) spend: f64,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) aliases: Map<String, Value>,
    pub(crate) config: Map<String, Value>,
    pub(crate) permissions: Map<String, Value>,
    pub(crate) user_id: Option<String>,
    pub(crate) team_id: Option<String>,
    pub(crate) tpm_limit: Option<i64>,
    pub(crate) rpm_limit: Option<i64>,
    pub(crate) max_parallel_requests: Option<i64>,
    pub(crate) blocked: Option<bool>,
}

/// Why `/key/generate` refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GenerateError {
    /// Another key has this alias (400, `param: key_alias`).
    AliasTaken(String),
    /// A caller-chosen `key` not starting with `sk-` (400).
    BadKeyFormat(String),
    /// A duration LiteLLM's parser rejects (it answers 500).
    BadDuration,
    /// The caller-chosen key exists (LiteLLM's database refuses: 500).
    KeyExists,
    /// No randomness available.
    Random(String),
}

/// Sort columns `/key/list` accepts.
pub(crate) const SORT_COLUMNS: &[&str] = &[
    "spend",
    "max_budget",
    "created_at",
    "updated_at",
    "token",
    "key_alias",
];

/// Filters and order of `/key/list`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListQuery {
    pub(crate) key_alias: Option<String>,
    pub(crate) key_hash: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) team_id: Option<String>,
    /// One of [`SORT_COLUMNS`]; `None`: newest first.
    pub(crate) sort_by: Option<String>,
    pub(crate) descending: bool,
}

/// The table.
#[derive(Debug, Default)]
pub(crate) struct KeyStore {
    keys: BTreeMap<String, KeyRecord>,
    /// Accept an alias another key has, as LiteLLM did before it enforced
    /// unique aliases (see [`crate::StandIn::set_unique_aliases`]).
    pub(crate) allow_duplicate_aliases: bool,
}

impl KeyStore {
    /// Creates a key; returns the raw key (shown once) and the row.
    pub(crate) fn generate(
        &mut self,
        new: NewKey,
        now: DateTime<Utc>,
    ) -> Result<(String, KeyRecord), GenerateError> {
        if let Some(alias) = new
            .key_alias
            .as_ref()
            .filter(|_| !self.allow_duplicate_aliases)
        {
            if self
                .keys
                .values()
                .any(|k| k.key_alias.as_deref() == Some(alias))
            {
                return Err(GenerateError::AliasTaken(alias.clone()));
            }
        }
        let raw = match new.key {
            Some(k) if !k.starts_with("sk-") => return Err(GenerateError::BadKeyFormat(k)),
            Some(k) => k,
            None => new_raw_key().map_err(|e| GenerateError::Random(e.to_string()))?,
        };
        // Both durations are read by LiteLLM's one parser, from now.
        let from_now = |duration: &Option<String>| {
            duration
                .as_deref()
                .map(|d| add_duration(now, d).ok_or(GenerateError::BadDuration))
                .transpose()
        };
        let expires = from_now(&new.duration)?;
        let budget_reset_at = from_now(&new.budget_duration)?;
        let token = hash_token(&raw);
        if self.keys.contains_key(&token) {
            return Err(GenerateError::KeyExists);
        }
        let record = KeyRecord {
            token: token.clone(),
            key_name: abbreviate(&raw),
            key_alias: new.key_alias,
            spend: new.spend,
            max_budget: new.max_budget,
            expires,
            models: new.models,
            aliases: new.aliases,
            config: new.config,
            permissions: new.permissions,
            metadata: new.metadata,
            user_id: new.user_id,
            team_id: new.team_id,
            tpm_limit: new.tpm_limit,
            rpm_limit: new.rpm_limit,
            max_parallel_requests: new.max_parallel_requests,
            blocked: new.blocked,
            budget_duration: new.budget_duration,
            budget_reset_at,
            created_at: now,
            updated_at: now,
        };
        self.keys.insert(token, record.clone());
        Ok((raw, record))
    }

    /// The key with this token.
    pub(crate) fn get(&self, token: &str) -> Option<&KeyRecord> {
        self.keys.get(token)
    }

    /// The page `page` (from 1) of `size` keys matching `q`, and how many
    /// match in all.
    pub(crate) fn list(&self, q: &ListQuery, page: usize, size: usize) -> (Vec<KeyRecord>, usize) {
        let mut matching: Vec<&KeyRecord> = self
            .keys
            .values()
            .filter(|k| {
                q.key_alias
                    .as_ref()
                    .is_none_or(|a| k.key_alias.as_ref() == Some(a))
                    && q.key_hash.as_ref().is_none_or(|h| &k.token == h)
                    && q.user_id
                        .as_ref()
                        .is_none_or(|u| k.user_id.as_ref() == Some(u))
                    && q.team_id
                        .as_ref()
                        .is_none_or(|t| k.team_id.as_ref() == Some(t))
            })
            .collect();
        match q.sort_by.as_deref() {
            // LiteLLM's default order: newest first, then token descending.
            None => {
                matching.sort_by(|a, b| (b.created_at, &b.token).cmp(&(a.created_at, &a.token)))
            }
            Some(column) => {
                matching.sort_by(|a, b| {
                    let order = match column {
                        "spend" => a.spend.total_cmp(&b.spend),
                        "max_budget" => a
                            .max_budget
                            .unwrap_or(f64::NEG_INFINITY)
                            .total_cmp(&b.max_budget.unwrap_or(f64::NEG_INFINITY)),
                        "updated_at" => a.updated_at.cmp(&b.updated_at),
                        "token" => a.token.cmp(&b.token),
                        "key_alias" => a.key_alias.cmp(&b.key_alias),
                        _ => a.created_at.cmp(&b.created_at),
                    };
                    if q.descending {
                        order.reverse()
                    } else {
                        order
                    }
                });
            }
        }
        let total = matching.len();
        let skip = page.saturating_sub(1).saturating_mul(size);
        let rows = matching
            .into_iter()
            .skip(skip)
            .take(size)
            .cloned()
            .collect();
        (rows, total)
    }

    /// Deletes the keys with these tokens; returns those that existed.
    pub(crate) fn delete(&mut self, tokens: &[String]) -> Vec<KeyRecord> {
        tokens.iter().filter_map(|t| self.keys.remove(t)).collect()
    }

    /// The tokens of keys with one of these aliases.
    pub(crate) fn tokens_with_aliases(&self, aliases: &[String]) -> Vec<String> {
        self.keys
            .values()
            .filter(|k| k.key_alias.as_ref().is_some_and(|a| aliases.contains(a)))
            .map(|k| k.token.clone())
            .collect()
    }

    /// How many keys there are.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn raw_keys_look_like_litellms_and_are_stored_hashed() {
        let mut store = KeyStore::default();
        let now = at("2026-01-31T10:00:00Z");
        let (raw, row) = store.generate(NewKey::default(), now).unwrap();
        assert!(raw.starts_with("sk-") && raw.len() == 25, "{raw}");
        assert_eq!(row.token, hash_token(&raw));
        assert_eq!(row.token.len(), 64);
        assert_eq!(row.key_name, format!("sk-...{}", &raw[raw.len() - 4..]));
        let shown = row.to_json().to_string();
        assert!(
            !shown.contains(&raw),
            "the raw key is never stored: {shown}"
        );
        assert_eq!(token_of(&raw), row.token);
        assert_eq!(token_of(&row.token), row.token);
    }

    #[test]
    fn aliases_are_unique_and_custom_keys_need_the_prefix() {
        let mut store = KeyStore::default();
        let now = Utc::now();
        let alias = NewKey {
            key_alias: Some("tenant/a".into()),
            ..NewKey::default()
        };
        store.generate(alias.clone(), now).unwrap();
        assert_eq!(
            store.generate(alias, now),
            Err(GenerateError::AliasTaken("tenant/a".into()))
        );
        let bad = NewKey {
            key: Some("pk-123456789".into()),
            ..NewKey::default()
        };
        assert!(matches!(
            store.generate(bad, now),
            Err(GenerateError::BadKeyFormat(_))
        ));
        let mine = NewKey {
            key: Some("sk-chosen-by-me".into()),
            ..NewKey::default()
        };
        store.generate(mine.clone(), now).unwrap();
        assert_eq!(store.generate(mine, now), Err(GenerateError::KeyExists));
    }

    #[test]
    fn durations() {
        let t = at("2026-01-31T10:00:00Z");
        assert_eq!(add_duration(t, "30s"), Some(at("2026-01-31T10:00:30Z")));
        assert_eq!(add_duration(t, "90"), None, "no unit: LiteLLM refuses");
        assert_eq!(add_duration(t, "2days"), Some(at("2026-02-02T10:00:00Z")));
        assert_eq!(add_duration(t, "2h"), Some(at("2026-01-31T12:00:00Z")));
        assert_eq!(add_duration(t, "30d"), Some(at("2026-03-02T10:00:00Z")));
        assert_eq!(add_duration(t, "1w"), Some(at("2026-02-07T10:00:00Z")));
        assert_eq!(add_duration(t, "1mo"), Some(at("2026-02-28T10:00:00Z")));
        assert_eq!(add_duration(t, "forever"), None);
        assert_eq!(add_duration(t, ""), None);
    }

    #[test]
    fn list_filters_pages_and_orders_newest_first() {
        let mut store = KeyStore::default();
        let t0 = at("2026-01-01T00:00:00Z");
        for (i, alias) in ["a", "b", "c"].iter().enumerate() {
            let new = NewKey {
                key_alias: Some((*alias).into()),
                spend: f64::from(u8::try_from(3 - i).unwrap()),
                ..NewKey::default()
            };
            let when = t0 + chrono::TimeDelta::try_seconds(i64::try_from(i).unwrap()).unwrap();
            store.generate(new, when).unwrap();
        }
        let all = ListQuery::default();
        let (page, total) = store.list(&all, 1, 2);
        assert_eq!(total, 3);
        let aliases: Vec<_> = page.iter().map(|k| k.key_alias.clone().unwrap()).collect();
        assert_eq!(aliases, ["c", "b"]);
        let (page, _) = store.list(&all, 2, 2);
        assert_eq!(page[0].key_alias.as_deref(), Some("a"));
        let by_spend = ListQuery {
            sort_by: Some("spend".into()),
            descending: false,
            ..ListQuery::default()
        };
        let (page, _) = store.list(&by_spend, 1, 10);
        assert_eq!(page[0].key_alias.as_deref(), Some("c"));
        let one = ListQuery {
            key_alias: Some("b".into()),
            ..ListQuery::default()
        };
        let (page, total) = store.list(&one, 1, 10);
        assert_eq!((page.len(), total), (1, 1));
        let tokens = store.tokens_with_aliases(&["a".into(), "zz".into()]);
        assert_eq!(store.delete(&tokens).len(), 1);
        assert_eq!(store.len(), 2);
    }
}
