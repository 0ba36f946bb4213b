//! Time on the wire: RFC 3339 UTC with microseconds, parsed strictly.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// Formats a timestamp as RFC 3339 UTC (`2026-11-25T10:00:00.123456Z`).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Microseconds since the Unix epoch to a timestamp (saturating at the
/// representable range rather than panicking).
pub fn from_micros(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Formats microseconds since the epoch as RFC 3339.
pub fn micros_rfc3339(micros: i64) -> String {
    rfc3339(from_micros(micros))
}

/// Parses an RFC 3339 timestamp.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_micros() {
        let s = micros_rfc3339(1_764_064_800_123_456);
        assert_eq!(s, "2025-11-25T10:00:00.123456Z");
        assert_eq!(
            parse_rfc3339(&s).map(|t| t.timestamp_micros()),
            Some(1_764_064_800_123_456)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
