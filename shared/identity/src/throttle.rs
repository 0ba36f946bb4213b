//! Sign-in throttles: fixed-window counters in PostgreSQL (`auth_throttle`),
//! shared by every instance of every component.
//!
//! - failed password logins, per account (the typed email) and per source
//!   address: an attempt reserves a slot in both counters *before* the
//!   argon2 check, so however many arrive at once, at most `max` checks run
//!   per window; a successful login gives its slots back, so the counters
//!   count failures;
//! - signups and device-login starts, per source address (each writes rows).
//!
//! Over the limit: `429 RATE_LIMITED` with `Retry-After` (the seconds until
//! the window ends), without any password check. A counter's window starts
//! at its first attempt and lasts `*_window_secs`; the next attempt after it
//! starts a new one.
//!
//! The source address is the `spin-client-addr` Spin sets (the TCP peer; a
//! client cannot set it), IPv6 grouped by /64. Behind a reverse proxy every
//! request comes from the proxy: raise the per-address limits there.
//!
//! Limits are Spin variables (defaults in [`Kind::defaults`]).

use std::net::{IpAddr, SocketAddr};

use cp_http::{ApiError, ApiRequest};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{Database, Value};

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Failed password logins of one account (by email).
    LoginAccount,
    /// Failed password logins from one address.
    LoginAddress,
    /// Signups from one address.
    Signup,
    /// Device-login starts from one address.
    DeviceStart,
}

/// A limit: at most `max` in `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Most counted attempts in a window.
    pub max: i64,
    /// The window, in seconds.
    pub window_secs: i64,
}

/// Largest accepted limit or window (anything larger is ignored).
const MAX_SETTING: i64 = 100_000_000;

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Self::LoginAccount => "login-account",
            Self::LoginAddress => "login-address",
            Self::Signup => "signup-address",
            Self::DeviceStart => "device-start-address",
        }
    }

    /// The variables of the limit (max, window) and their defaults.
    pub fn defaults(self) -> (&'static str, i64, &'static str, i64) {
        match self {
            Self::LoginAccount => (
                "login_max_failures_per_account",
                10,
                "login_window_secs",
                900,
            ),
            Self::LoginAddress => (
                "login_max_failures_per_address",
                100,
                "login_window_secs",
                900,
            ),
            Self::Signup => ("signup_max_per_address", 20, "signup_window_secs", 3600),
            Self::DeviceStart => (
                "device_start_max_per_address",
                30,
                "device_start_window_secs",
                600,
            ),
        }
    }

    /// The limit configured on `platform` (a missing or invalid variable
    /// keeps the default).
    pub fn limit<P: Platform>(self, platform: &P) -> Limit {
        let (max_var, max, window_var, window) = self.defaults();
        let read = |name: &str, default: i64| {
            platform
                .variable(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|n| (1..=MAX_SETTING).contains(n))
                .unwrap_or(default)
        };
        Limit {
            max: read(max_var, max),
            window_secs: read(window_var, window),
        }
    }

    fn refusal(self, retry_after_secs: u64) -> ApiError {
        let what = match self {
            Self::LoginAccount => "too many failed sign-ins for this account",
            Self::LoginAddress => "too many failed sign-ins from this address",
            Self::Signup => "too many signups from this address",
            Self::DeviceStart => "too many device logins started from this address",
        };
        ApiError::RateLimited {
            message: format!("{what}; retry after {retry_after_secs} s"),
            retry_after_secs,
        }
    }
}

/// The request's source address as counted: the IP of `spin-client-addr`
/// (an IPv6 address by its /64), `unknown` without one.
pub fn client_address(req: &ApiRequest) -> String {
    let Some(raw) = req.header("spin-client-addr").map(str::trim) else {
        return "unknown".into();
    };
    let ip = raw
        .parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| raw.parse::<IpAddr>());
    match ip {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => "unknown".into(),
    }
}

/// A counted attempt, which a success may give back ([`release`]).
#[derive(Debug, Clone)]
pub struct Reservation {
    bucket: String,
    window_micros: i64,
}

/// Drops a few counters whose window ended (skipping any in use).
const PRUNE: &str = "DELETE FROM auth_throttle WHERE bucket IN (
        SELECT bucket FROM auth_throttle WHERE expires_at < now() - interval '1 minute'
        LIMIT 20 FOR UPDATE SKIP LOCKED)";

/// Counts an attempt in bucket $1 (window $2 seconds) in one statement: the
/// row lock serialises concurrent attempts, so each sees its own count.
const RESERVE: &str = concat!(
    "INSERT INTO auth_throttle AS t (bucket, window_start, count, expires_at)
    VALUES ($1, now(), 1, now() + $2::int8 * interval '1 second')
    ON CONFLICT (bucket) DO UPDATE SET
        window_start = CASE WHEN t.expires_at <= now() THEN now() ELSE t.window_start END,
        count = CASE WHEN t.expires_at <= now() THEN 1 ELSE LEAST(t.count + 1, 1000000000) END,
        expires_at = CASE WHEN t.expires_at <= now()
            THEN now() + $2::int8 * interval '1 second' ELSE t.expires_at END
    RETURNING count::int8 AS count, ",
    cp_store::epoch_micros!("window_start"),
    " AS window_micros,
        GREATEST(ceil(extract(epoch FROM expires_at - now())), 1)::int8 AS retry_secs"
);

/// Gives back an attempt of bucket $1 in the window that started at $2.
const RELEASE: &str = concat!(
    "UPDATE auth_throttle SET count = count - 1
    WHERE bucket = $1 AND count > 0
      AND window_start = ",
    cp_store::micros_timestamptz!("$2")
);

/// Counts an attempt of `kind` by `key` (an email, an address): a 429 with
/// `Retry-After` when it is over the configured limit. Runs outside any
/// transaction (the count must stand even when the request fails).
pub async fn reserve<P: Platform>(
    ctx: &RequestContext<'_, P>,
    kind: Kind,
    key: &str,
) -> Result<Reservation, Failure> {
    let limit = kind.limit(ctx.platform);
    let bucket = cp_crypto::token_hash(&format!("{}:{key}", kind.tag()));
    let db = ctx.db();
    db.execute(PRUNE, &[]).await?;
    let row = db
        .query_one(
            RESERVE,
            &[bucket.as_str().into(), Value::Int(limit.window_secs)],
        )
        .await?;
    if row.i64("count")? > limit.max {
        let retry = u64::try_from(row.i64("retry_secs")?).unwrap_or(1).max(1);
        return Err(kind.refusal(retry).into());
    }
    Ok(Reservation {
        bucket,
        window_micros: row.i64("window_micros")?,
    })
}

/// Gives an attempt back (a successful login is not a failure).
pub async fn release<D: Database>(db: &D, reservation: &Reservation) -> Result<(), Failure> {
    db.execute(
        RELEASE,
        &[
            reservation.bucket.as_str().into(),
            Value::Int(reservation.window_micros),
        ],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cp_http::Method;

    fn addr(value: &str) -> String {
        client_address(
            &ApiRequest::new(Method::Post, "/api/v1/auth/token")
                .with_header("spin-client-addr", value),
        )
    }

    #[test]
    fn addresses_are_ips_and_ipv6_counts_by_its_64() {
        assert_eq!(addr("203.0.113.7:51234"), "203.0.113.7");
        assert_eq!(addr("[2001:db8:1:2:3:4:5:6]:443"), "2001:db8:1:2::/64");
        assert_eq!(addr("[2001:db8:1:2:ffff::1]:443"), "2001:db8:1:2::/64");
        assert_eq!(addr("[::ffff:198.51.100.1]:80"), "198.51.100.1");
        assert_eq!(addr("198.51.100.2"), "198.51.100.2");
        assert_eq!(addr("garbage"), "unknown");
        assert_eq!(
            client_address(&ApiRequest::new(Method::Post, "/")),
            "unknown"
        );
    }

    #[test]
    fn refusals_say_what_and_when() {
        let e = Kind::LoginAccount.refusal(42);
        assert_eq!(e.status(), 429);
        assert!(e.message().contains("this account"), "{e}");
        assert!(e.message().contains("42 s"), "{e}");
    }
}
