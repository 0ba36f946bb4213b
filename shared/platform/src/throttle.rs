//! Throttles: fixed-window counters in PostgreSQL (`auth_throttle`),
//! shared by every instance of every component. Each [`Throttle`] is
//! declared by the domain that counts something (identity: failed sign-ins,
//! signups, device-login starts; agents: self-enrolments), and counted
//! here the same way for all.
//!
//! An attempt reserves a slot ([`reserve`]) before the work it limits, so
//! however many arrive at once, at most `max` pass per window; work that
//! should not count (a successful sign-in, when failures are counted) gives
//! its slot back ([`release`]).
//!
//! Over the limit: `429 RATE_LIMITED` with `Retry-After` (the seconds until
//! the window ends). A counter's window starts at its first attempt and
//! lasts its `window_secs`; the next attempt after it starts a new one.
//!
//! The source address is the `spin-client-addr` Spin sets (the TCP peer; a
//! client cannot set it), IPv6 grouped by /64. Behind a reverse proxy every
//! request comes from the proxy: raise the per-address limits there.
//!
//! Limits are Spin variables (defaults in each [`Throttle`]).

use std::net::{IpAddr, SocketAddr};

use cp_http::{ApiError, ApiRequest};
use cp_store::{Database, Value};

use crate::{Failure, Platform, RequestContext};

/// One kind of counted attempt and its limit: at most `max` (Spin
/// variable `max_variable`) in `window_secs` (variable `window_variable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Names the counters (with each key, hashed).
    pub tag: &'static str,
    /// What the refusal says is too much (`too many signups from this address`).
    pub what: &'static str,
    /// The variable of the most attempts in a window.
    pub max_variable: &'static str,
    /// Its default.
    pub max: i64,
    /// The variable of the window, seconds.
    pub window_variable: &'static str,
    /// Its default.
    pub window_secs: i64,
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

impl Throttle {
    /// The limit configured on `platform` (a missing or invalid variable
    /// keeps the default).
    pub fn limit<P: Platform>(&self, platform: &P) -> Limit {
        let read = |name: &str, default: i64| {
            platform
                .variable(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|n| (1..=MAX_SETTING).contains(n))
                .unwrap_or(default)
        };
        Limit {
            max: read(self.max_variable, self.max),
            window_secs: read(self.window_variable, self.window_secs),
        }
    }

    fn refusal(&self, retry_after_secs: u64) -> ApiError {
        ApiError::RateLimited {
            message: format!("{}; retry after {retry_after_secs} s", self.what),
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

/// Counts an attempt against `throttle` by `key` (an email, an address, an
/// organisation): a 429 with `Retry-After` when it is over the configured
/// limit. Runs outside any transaction (the count must stand even when the
/// request fails).
pub async fn reserve<P: Platform>(
    ctx: &RequestContext<'_, P>,
    throttle: &Throttle,
    key: &str,
) -> Result<Reservation, Failure> {
    let limit = throttle.limit(ctx.platform);
    let bucket = cp_crypto::token_hash(&format!("{}:{key}", throttle.tag));
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
        return Err(throttle.refusal(retry).into());
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

    const EXAMPLE: Throttle = Throttle {
        tag: "example",
        what: "too many examples from this address",
        max_variable: "example_max",
        max: 3,
        window_variable: "example_window_secs",
        window_secs: 60,
    };

    #[test]
    fn refusals_say_what_and_when() {
        let e = EXAMPLE.refusal(42);
        assert_eq!(e.status(), 429);
        assert!(e.message().contains("too many examples"), "{e}");
        assert!(e.message().contains("42 s"), "{e}");
    }
}
