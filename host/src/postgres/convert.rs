//! Conversions between `spin:postgres@4.0.0` values and PostgreSQL wire values.
//!
//! The mapping follows Spin's `factor-outbound-pg` case by case, including its rough edges,
//! so that a component behaves the same here and under `spin up`:
//! - `TIMESTAMPTZ` columns are read as a naive date-time, which the driver refuses, so
//!   selecting one fails; select `col AT TIME ZONE 'UTC'` (a `TIMESTAMP`) instead.
//! - the `datetime` parameter binds only to `TIMESTAMP`, `timestamp` only to `TIMESTAMPTZ`,
//!   `int8` only to the one-byte `"char"` type.
//! - a column of any type without a case (`JSON`, `NAME`, `OID`, ...) is reported as
//!   `other(<type name>)` with its raw binary value as `unsupported`.
//! - an empty result has no columns.
//!
//! NUMERIC, ranges and INTERVAL use small codecs of their own; NUMERIC keeps full precision
//! (Spin goes through a 28-digit decimal type, so it fails on larger values where this succeeds).

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::Row;

use crate::bindings::postgres::{
    Column, DbDataType, DbValue, Interval, ParameterValue, RangeBoundKind, RowSet,
};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A parameter ready to be bound to a statement.
pub(crate) type SqlParam = Box<dyn ToSql + Sync + Send>;

/// Converts guest parameters; an error names the offending value.
pub(crate) fn to_sql_params(params: &[ParameterValue]) -> Result<Vec<SqlParam>, String> {
    params.iter().map(to_sql_param).collect()
}

fn to_sql_param(value: &ParameterValue) -> Result<SqlParam, String> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date(v) => Box::new(date_to_pg(*v)?),
        ParameterValue::Time(v) => Box::new(time_to_pg(*v)?),
        ParameterValue::Datetime(v) => Box::new(datetime_to_pg(*v)?),
        ParameterValue::Timestamp(secs) => Box::new(
            DateTime::<Utc>::from_timestamp(*secs, 0)
                .ok_or_else(|| format!("invalid epoch timestamp {secs}"))?,
        ),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(v).map_err(|e| format!("invalid UUID {v:?}: {e}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .map_err(|e| format!("invalid JSON {:?}: {e}", String::from_utf8_lossy(v)))?,
        ),
        ParameterValue::Decimal(v) => Box::new(Numeric::parse(v)?),
        ParameterValue::RangeInt32((lower, upper)) => Box::new(PgRange::<i32> {
            element: Type::INT4,
            lower: *lower,
            upper: *upper,
        }),
        ParameterValue::RangeInt64((lower, upper)) => Box::new(PgRange::<i64> {
            element: Type::INT8,
            lower: *lower,
            upper: *upper,
        }),
        ParameterValue::RangeDecimal((lower, upper)) => {
            let bound = |b: &Option<(String, RangeBoundKind)>| -> Result<_, String> {
                b.as_ref()
                    .map(|(v, kind)| Ok((Numeric::parse(v)?, *kind)))
                    .transpose()
            };
            Box::new(PgRange::<Numeric> {
                element: Type::NUMERIC,
                lower: bound(lower)?,
                upper: bound(upper)?,
            })
        }
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| d.as_deref().map(Numeric::parse).transpose())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::Interval(v) => Box::new(PgInterval(*v)),
        ParameterValue::DbNull => Box::new(PgNull),
    })
}

fn date_to_pg((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| format!("invalid date {y}-{m}-{d}"))
}

fn time_to_pg((h, m, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| format!("invalid time {h}:{m}:{s}.{ns:09}"))
}

fn datetime_to_pg(
    (y, mo, d, h, mi, s, ns): (i32, u8, u8, u8, u8, u8, u32),
) -> Result<NaiveDateTime, String> {
    Ok(NaiveDateTime::new(
        date_to_pg((y, mo, d))?,
        time_to_pg((h, mi, s, ns))?,
    ))
}

/// The column type the guest sees.
pub(crate) fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_string()),
    }
}

/// Converts query results; column types come from the first row, as in Spin.
pub(crate) fn row_set(rows: &[Row]) -> Result<RowSet, tokio_postgres::Error> {
    let Some(first) = rows.first() else {
        return Ok(RowSet {
            columns: Vec::new(),
            rows: Vec::new(),
        });
    };
    let columns = first
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_string(),
            data_type: data_type(c.type_()),
        })
        .collect();
    let rows = rows
        .iter()
        .map(|row| (0..row.len()).map(|i| db_value(row, i)).collect())
        .collect::<Result<_, _>>()?;
    Ok(RowSet { columns, rows })
}

/// Reads column `i` as `T` (NULL becomes `db-null`) and wraps it with `wrap`.
fn read<'a, T: FromSql<'a>>(
    row: &'a Row,
    i: usize,
    wrap: impl FnOnce(T) -> DbValue,
) -> Result<DbValue, tokio_postgres::Error> {
    Ok(row
        .try_get::<_, Option<T>>(i)?
        .map_or(DbValue::DbNull, wrap))
}

fn db_value(row: &Row, i: usize) -> Result<DbValue, tokio_postgres::Error> {
    match *row.columns()[i].type_() {
        Type::BOOL => read(row, i, DbValue::Boolean),
        Type::BYTEA => read(row, i, DbValue::Binary),
        Type::FLOAT4 => read(row, i, DbValue::Floating32),
        Type::FLOAT8 => read(row, i, DbValue::Floating64),
        Type::INT2 => read(row, i, DbValue::Int16),
        Type::INT4 => read(row, i, DbValue::Int32),
        Type::INT8 => read(row, i, DbValue::Int64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => read(row, i, DbValue::Str),
        // Spin reads both as a naive date-time; for TIMESTAMPTZ the driver rejects that
        // and the query fails, exactly as it does under Spin (see the module docs).
        Type::TIMESTAMP | Type::TIMESTAMPTZ => read(row, i, |v: NaiveDateTime| {
            DbValue::Datetime((
                v.year(),
                narrow(v.month()),
                narrow(v.day()),
                narrow(v.hour()),
                narrow(v.minute()),
                narrow(v.second()),
                v.nanosecond(),
            ))
        }),
        Type::DATE => read(row, i, |v: NaiveDate| {
            DbValue::Date((v.year(), narrow(v.month()), narrow(v.day())))
        }),
        Type::TIME => read(row, i, |v: NaiveTime| {
            DbValue::Time((
                narrow(v.hour()),
                narrow(v.minute()),
                narrow(v.second()),
                v.nanosecond(),
            ))
        }),
        Type::UUID => read(row, i, |v: uuid::Uuid| DbValue::Uuid(v.to_string())),
        Type::JSONB => read(row, i, |v: serde_json::Value| {
            DbValue::Jsonb(v.to_string().into_bytes())
        }),
        Type::NUMERIC => read(row, i, |v: Numeric| DbValue::Decimal(v.0)),
        Type::INT4_RANGE => read(row, i, |v: PgRange<i32>| {
            DbValue::RangeInt32((v.lower, v.upper))
        }),
        Type::INT8_RANGE => read(row, i, |v: PgRange<i64>| {
            DbValue::RangeInt64((v.lower, v.upper))
        }),
        Type::NUM_RANGE => read(row, i, |v: PgRange<Numeric>| {
            let text = |b: Option<(Numeric, RangeBoundKind)>| b.map(|(n, kind)| (n.0, kind));
            DbValue::RangeDecimal((text(v.lower), text(v.upper)))
        }),
        Type::INT4_ARRAY => read(row, i, DbValue::ArrayInt32),
        Type::INT8_ARRAY => read(row, i, DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => read(row, i, |v: Vec<Option<Numeric>>| {
            DbValue::ArrayDecimal(v.into_iter().map(|n| n.map(|n| n.0)).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            read(row, i, DbValue::ArrayStr)
        }
        Type::INTERVAL => read(row, i, |v: PgInterval| DbValue::Interval(v.0)),
        _ => read(row, i, |v: RawValue| DbValue::Unsupported(v.0)),
    }
}

/// Calendar and clock fields always fit in a byte.
fn narrow(v: u32) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

/// Binds SQL NULL to a parameter of any type.
#[derive(Debug)]
struct PgNull;

impl ToSql for PgNull {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Any value, as its raw binary wire representation.
struct RawValue(Vec<u8>);

impl<'a> FromSql<'a> for RawValue {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// INTERVAL: microseconds, days and months, as the server stores it.
#[derive(Debug)]
struct PgInterval(Interval);

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let bytes: [u8; 16] = raw
            .try_into()
            .map_err(|_| format!("INTERVAL value has {} bytes, expected 16", raw.len()))?;
        let (micros, rest) = bytes.split_at(8);
        let (days, months) = rest.split_at(4);
        Ok(Self(Interval {
            micros: i64::from_be_bytes(micros.try_into()?),
            days: i32::from_be_bytes(days.try_into()?),
            months: i32::from_be_bytes(months.try_into()?),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// A range over `T`, with Spin's representation of bounds. An empty range reads as
/// `(none, none)`, like an unbounded one, as in Spin.
#[derive(Debug)]
struct PgRange<T> {
    /// The element type, needed to encode bounds.
    element: Type,
    lower: Option<(T, RangeBoundKind)>,
    upper: Option<(T, RangeBoundKind)>,
}

const RANGE_EMPTY: u8 = 0x01;
const RANGE_LOWER_INCLUSIVE: u8 = 0x02;
const RANGE_UPPER_INCLUSIVE: u8 = 0x04;
const RANGE_LOWER_UNBOUNDED: u8 = 0x08;
const RANGE_UPPER_UNBOUNDED: u8 = 0x10;

/// The range type whose elements are `T`.
trait RangeElement {
    fn range_type() -> Type;
}

impl RangeElement for i32 {
    fn range_type() -> Type {
        Type::INT4_RANGE
    }
}

impl RangeElement for i64 {
    fn range_type() -> Type {
        Type::INT8_RANGE
    }
}

impl RangeElement for Numeric {
    fn range_type() -> Type {
        Type::NUM_RANGE
    }
}

impl<T: ToSql + RangeElement + std::fmt::Debug> ToSql for PgRange<T> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let flags_at = out.len();
        out.put_u8(0);
        let mut flags = 0;
        for (bound, inclusive, unbounded) in [
            (&self.lower, RANGE_LOWER_INCLUSIVE, RANGE_LOWER_UNBOUNDED),
            (&self.upper, RANGE_UPPER_INCLUSIVE, RANGE_UPPER_UNBOUNDED),
        ] {
            match bound {
                None => flags |= unbounded,
                Some((value, kind)) => {
                    if *kind == RangeBoundKind::Inclusive {
                        flags |= inclusive;
                    }
                    let len_at = out.len();
                    out.put_i32(0);
                    if let IsNull::Yes = value.to_sql(&self.element, out)? {
                        return Err("a range bound cannot be NULL".into());
                    }
                    let len = i32::try_from(out.len() - len_at - 4)?;
                    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
                }
            }
        }
        out[flags_at] = flags;
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == T::range_type()
    }

    to_sql_checked!();
}

impl<'a, T: FromSql<'a> + RangeElement> FromSql<'a> for PgRange<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let Kind::Range(element) = ty.kind() else {
            return Err(format!("{} is not a range type", ty.name()).into());
        };
        let (&flags, mut rest) = raw.split_first().ok_or("empty range value")?;
        let mut range = Self {
            element: element.clone(),
            lower: None,
            upper: None,
        };
        if flags & RANGE_EMPTY != 0 {
            return Ok(range);
        }
        let mut bound = |unbounded: u8, inclusive: u8| -> Result<_, BoxError> {
            if flags & unbounded != 0 {
                return Ok(None);
            }
            if rest.len() < 4 {
                return Err("truncated range value".into());
            }
            let (len, after) = rest.split_at(4);
            let len = usize::try_from(i32::from_be_bytes(len.try_into()?))?;
            if after.len() < len {
                return Err("truncated range value".into());
            }
            let (value, after) = after.split_at(len);
            rest = after;
            let kind = if flags & inclusive != 0 {
                RangeBoundKind::Inclusive
            } else {
                RangeBoundKind::Exclusive
            };
            Ok(Some((T::from_sql(element, value)?, kind)))
        };
        range.lower = bound(RANGE_LOWER_UNBOUNDED, RANGE_LOWER_INCLUSIVE)?;
        range.upper = bound(RANGE_UPPER_UNBOUNDED, RANGE_UPPER_INCLUSIVE)?;
        Ok(range)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == T::range_type()
    }
}

/// NUMERIC as base-10 text, e.g. `-12.50`, with the value's full precision and scale.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Numeric(String);

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

impl Numeric {
    /// Accepts plain decimal notation: an optional sign, digits, an optional fraction.
    fn parse(text: &str) -> Result<Self, String> {
        let invalid = || format!("invalid decimal {text:?}");
        let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits_only(int) || !digits_only(frac) {
            return Err(invalid());
        }
        Ok(Self(text.to_string()))
    }

    /// Encodes to the binary NUMERIC format: base-10000 digit groups, a weight (the
    /// power of 10000 of the first group), a sign and the display scale.
    fn encode(&self, out: &mut BytesMut) -> Result<(), BoxError> {
        let negative = self.0.starts_with('-');
        let unsigned = self.0.trim_start_matches(['-', '+']);
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let int = int.trim_start_matches('0');
        let dscale =
            u16::try_from(frac.len()).map_err(|_| "decimal has too many fraction digits")?;

        // Left-pad the integer part and right-pad the fraction to whole groups of 4 digits.
        let int_pad = (4 - int.len() % 4) % 4;
        let frac_pad = (4 - frac.len() % 4) % 4;
        let padded: String = "0".repeat(int_pad) + int + frac + &"0".repeat(frac_pad);
        let mut groups: Vec<i16> = padded
            .as_bytes()
            .chunks(4)
            .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0')))
            .collect();
        let mut weight = i32::try_from((int.len() + int_pad) / 4)? - 1;

        let leading = groups.iter().take_while(|g| **g == 0).count();
        groups.drain(..leading);
        weight -= i32::try_from(leading)?;
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }

        out.put_i16(i16::try_from(groups.len()).map_err(|_| "decimal has too many digits")?);
        out.put_i16(i16::try_from(weight).map_err(|_| "decimal is out of range")?);
        out.put_u16(if negative && !groups.is_empty() {
            NUMERIC_NEG
        } else {
            NUMERIC_POS
        });
        out.put_u16(dscale);
        for g in groups {
            out.put_i16(g);
        }
        Ok(())
    }

    /// Decodes the binary NUMERIC format to the text PostgreSQL itself would print.
    fn decode(raw: &[u8]) -> Result<Self, BoxError> {
        let field = |i: usize| -> Result<i16, BoxError> {
            let bytes = raw.get(i * 2..i * 2 + 2).ok_or("truncated NUMERIC value")?;
            Ok(i16::from_be_bytes(bytes.try_into()?))
        };
        let ndigits = usize::try_from(field(0)?)?;
        let weight = i32::from(field(1)?);
        let sign = u16::from_be_bytes(field(2)?.to_be_bytes());
        let dscale = usize::from(u16::from_be_bytes(field(3)?.to_be_bytes()));
        let special = match sign {
            NUMERIC_NAN => Some("NaN"),
            NUMERIC_PINF => Some("Infinity"),
            NUMERIC_NINF => Some("-Infinity"),
            NUMERIC_POS | NUMERIC_NEG => None,
            other => return Err(format!("invalid NUMERIC sign {other:#x}").into()),
        };
        if let Some(text) = special {
            return Ok(Self(text.to_string()));
        }
        let digits = (0..ndigits)
            .map(|i| field(4 + i))
            .collect::<Result<Vec<_>, _>>()?;
        // The digit group at power `weight - index` of 10000; groups outside the stored ones are 0.
        let group = |index: i32| -> i16 {
            usize::try_from(index)
                .ok()
                .and_then(|i| digits.get(i).copied())
                .unwrap_or(0)
        };

        let mut text = String::new();
        if sign == NUMERIC_NEG {
            text.push('-');
        }
        if weight < 0 {
            text.push('0');
        } else {
            text.push_str(&group(0).to_string());
            for index in 1..=weight {
                text.push_str(&format!("{:04}", group(index)));
            }
        }
        if dscale > 0 {
            let mut frac = String::new();
            let mut index = weight + 1;
            while frac.len() < dscale {
                frac.push_str(&format!("{:04}", group(index)));
                index += 1;
            }
            frac.truncate(dscale);
            text.push('.');
            text.push_str(&frac);
        }
        Ok(Self(text))
    }
}

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.encode(out)?;
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Self::decode(raw)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn round_trip(text: &str) -> String {
        let mut buf = BytesMut::new();
        Numeric::parse(text).unwrap().encode(&mut buf).unwrap();
        Numeric::decode(&buf).unwrap().0
    }

    #[test]
    fn numeric_codec_round_trips() {
        for (input, expected) in [
            ("0", "0"),
            ("0.00", "0.00"),
            ("1", "1"),
            ("-1", "-1"),
            ("+7", "7"),
            ("12.50", "12.50"),
            ("-0.5", "-0.5"),
            ("0.00005", "0.00005"),
            ("10000", "10000"),
            ("123456789.987654321", "123456789.987654321"),
            ("000123.4500", "123.4500"),
            (".5", "0.5"),
            ("5.", "5"),
            (
                "123456789012345678901234567890.123456789012345678901234567890",
                "123456789012345678901234567890.123456789012345678901234567890",
            ),
        ] {
            assert_eq!(round_trip(input), expected, "{input}");
        }
    }

    #[test]
    fn numeric_encoding_matches_postgres() {
        // 12.5 is the groups [12, 5000], weight 0, dscale 1.
        let mut buf = BytesMut::new();
        Numeric::parse("12.5").unwrap().encode(&mut buf).unwrap();
        assert_eq!(&buf[..], &[0, 2, 0, 0, 0, 0, 0, 1, 0, 12, 0x13, 0x88]);
    }

    #[test]
    fn numeric_rejects_non_decimals() {
        for bad in ["", "-", ".", "1e5", "abc", "1.2.3", "NaN", " 1", "1_000"] {
            assert!(Numeric::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_special_values_decode() {
        let nan = [0u8, 0, 0, 0, 0xC0, 0, 0, 0];
        assert_eq!(Numeric::decode(&nan).unwrap().0, "NaN");
    }

    #[test]
    fn range_codec_round_trips() {
        let range = PgRange::<i32> {
            element: Type::INT4,
            lower: Some((1, RangeBoundKind::Inclusive)),
            upper: None,
        };
        let mut buf = BytesMut::new();
        range.to_sql(&Type::INT4_RANGE, &mut buf).unwrap();
        let back = PgRange::<i32>::from_sql(&Type::INT4_RANGE, &buf).unwrap();
        assert_eq!(back.lower, Some((1, RangeBoundKind::Inclusive)));
        assert_eq!(back.upper, None);

        let empty = PgRange::<i64>::from_sql(&Type::INT8_RANGE, &[RANGE_EMPTY]).unwrap();
        assert_eq!((empty.lower, empty.upper), (None, None));
    }

    #[test]
    fn parameter_errors_name_the_value() {
        let err = to_sql_params(&[ParameterValue::Uuid("nope".into())])
            .err()
            .unwrap();
        assert!(err.contains("nope"), "{err}");
        assert!(to_sql_params(&[ParameterValue::Date((2024, 2, 30))]).is_err());
        assert!(to_sql_params(&[ParameterValue::Jsonb(b"{".to_vec())]).is_err());
        assert!(to_sql_params(&[ParameterValue::Decimal("1e3".into())]).is_err());
        assert!(to_sql_params(&[ParameterValue::DbNull, ParameterValue::Int32(1)]).is_ok());
    }
}
