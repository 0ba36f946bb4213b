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

/// The longest timestamp a request may carry.
pub const TIMESTAMP_MAX: usize = 64;

/// Parses an RFC 3339 timestamp: `YYYY-MM-DDTHH:MM:SS[.digits](Z|±HH:MM)`
/// with an upper-case `T` and `Z`, a real calendar date and no leap second.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > TIMESTAMP_MAX {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        // chrono folds a leap second into the previous one; refuse it.
        && &b[17..19] != b"60";
    if !shape {
        return None;
    }
    let mut i = 19;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = &b[i..];
    let offset_ok = offset == b"Z"
        || (offset.len() == 6
            && matches!(offset[0], b'+' | b'-')
            && offset[1..3].iter().all(u8::is_ascii_digit)
            && offset[3] == b':'
            && offset[4..6].iter().all(u8::is_ascii_digit));
    if !offset_ok {
        return None;
    }
    parse_rfc3339(s)
}

/// OpenAPI schema of a request timestamp ([`parse_timestamp`]'s form, what
/// JSON Schema's `date-time` format is); `nullable` allows JSON `null`.
pub fn timestamp_schema(nullable: bool, description: &str) -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type};
    let schema_type = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(schema_type)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .max_length(Some(TIMESTAMP_MAX))
        .description(Some(description))
        .build()
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
