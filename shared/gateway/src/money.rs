//! Money: model prices and the cost of token usage, in exact decimals.
//!
//! Prices are US dollars per million tokens, as providers publish them
//! ("3.00", "0.075"). Amounts are [`Decimal`]s (96-bit integer and a scale),
//! never floats, cross the API as JSON strings and the database as
//! `numeric`, so a sum of a million records is exact to the last digit.

use rust_decimal::Decimal;
use serde::Serialize;

/// How many fractional digits a price may have (a millionth of a dollar per
/// million tokens: finer than any provider publishes).
pub const PRICE_SCALE: u32 = 6;

/// The largest accepted price per million tokens.
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Parses a price per million tokens ([`parse_amount`] with
/// [`PRICE_SCALE`] and [`MAX_PRICE`]).
pub fn parse_price(text: &str) -> Result<Decimal, String> {
    parse_amount(text, PRICE_SCALE, MAX_PRICE, "3.00")
}

/// Parses an amount of money: a plain decimal string (digits, at most one
/// '.', no sign or exponent), not negative, at most `scale` fractional
/// digits, at most `max`. The error says what is wrong (callers put it
/// under the field's name); `example` shows a good value.
pub fn parse_amount(
    text: &str,
    scale: u32,
    max: Decimal,
    example: &str,
) -> Result<Decimal, String> {
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.chars().filter(|&c| c == '.').count() <= 1
        && !text.starts_with('.')
        && !text.ends_with('.');
    if !plain {
        return Err(format!(
            "{text:?} is not a decimal amount like \"{example}\" (digits, at most one '.', no sign or exponent)"
        ));
    }
    let value: Decimal = text
        .parse()
        .map_err(|_| format!("{text:?} is not a decimal amount"))?;
    if value.scale() > scale {
        return Err(format!("{text:?} has more than {scale} fractional digits"));
    }
    if value > max {
        return Err(format!("{text:?} exceeds the maximum of {max}"));
    }
    Ok(value)
}

/// A model's prices, dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPrice {
    /// Uncached input (prompt) tokens.
    pub input: Decimal,
    /// Output (completion) tokens.
    pub output: Decimal,
    /// Cached input tokens; `None`: priced as input.
    pub cached_input: Option<Decimal>,
}

/// Tokens of one or many requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Input tokens, cached ones included (as providers report them).
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// The part of `input` served from the provider's prompt cache.
    pub cached: u64,
}

/// A cost broken down by kind of token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// Uncached input.
    pub input: Decimal,
    /// Cached input.
    pub cached_input: Decimal,
    /// Output.
    pub output: Decimal,
    /// The sum.
    pub total: Decimal,
}

/// What `tokens` cost at `price`. Cached tokens are part of the input count
/// (a count above it is treated as all input cached); they are priced at the
/// cached rate when the model has one.
pub fn cost(tokens: TokenCounts, price: &ModelPrice) -> Cost {
    let million = Decimal::from(1_000_000u32);
    let cached = tokens.cached.min(tokens.input);
    let uncached = tokens.input - cached;
    let at = |count: u64, rate: Decimal| Decimal::from(count) * rate / million;
    let input = at(uncached, price.input);
    let cached_input = at(cached, price.cached_input.unwrap_or(price.input));
    let output = at(tokens.output, price.output);
    Cost {
        total: input + cached_input + output,
        input,
        cached_input,
        output,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn prices_parse_exactly_or_say_why_not() {
        assert_eq!(parse_price("3.00"), Ok(d("3.00")));
        assert_eq!(parse_price("0.075"), Ok(d("0.075")));
        assert_eq!(parse_price("15"), Ok(d("15")));
        assert_eq!(parse_price("1000000"), Ok(MAX_PRICE));
        for bad in [
            "", "-1", "+1", "1e3", ".5", "5.", "1.2.3", "abc", " 1", "NaN",
        ] {
            assert!(parse_price(bad).is_err(), "{bad:?}");
        }
        assert!(parse_price("0.0000001").unwrap_err().contains("fractional"));
        assert!(parse_price("1000000.01").unwrap_err().contains("maximum"));
    }

    #[test]
    fn costs_are_exact_where_floats_are_not() {
        let price = ModelPrice {
            input: d("0.1"),
            output: d("0.2"),
            cached_input: None,
        };
        // 0.1 + 0.2 per million: floats give 0.30000000000000004.
        let c = cost(
            TokenCounts {
                input: 1_000_000,
                output: 1_000_000,
                cached: 0,
            },
            &price,
        );
        assert_eq!(c.total, d("0.3"));
        assert_eq!(c.total.to_string(), "0.3");
    }

    #[test]
    fn cached_input_is_priced_at_its_rate_and_bounded_by_the_input() {
        let price = ModelPrice {
            input: d("3.00"),
            output: d("15.00"),
            cached_input: Some(d("0.30")),
        };
        let c = cost(
            TokenCounts {
                input: 1200,
                output: 350,
                cached: 1000,
            },
            &price,
        );
        assert_eq!(c.input, d("0.0006"));
        assert_eq!(c.cached_input, d("0.0003"));
        assert_eq!(c.output, d("0.00525"));
        assert_eq!(c.total, d("0.00615"));
        // More cached than input: all of the input is cached.
        let c = cost(
            TokenCounts {
                input: 10,
                output: 0,
                cached: 50,
            },
            &price,
        );
        assert_eq!(c.input, Decimal::ZERO);
        assert_eq!(c.cached_input, d("0.000003"));
    }

    #[test]
    fn a_million_small_records_sum_exactly() {
        let price = ModelPrice {
            input: d("0.15"),
            output: d("0.60"),
            cached_input: None,
        };
        let one = cost(
            TokenCounts {
                input: 7,
                output: 3,
                cached: 0,
            },
            &price,
        );
        let mut sum = Decimal::ZERO;
        for _ in 0..1_000_000 {
            sum += one.total;
        }
        let all = cost(
            TokenCounts {
                input: 7_000_000,
                output: 3_000_000,
                cached: 0,
            },
            &price,
        );
        assert_eq!(sum, all.total);
        assert_eq!(all.total, d("2.85"));
    }

    #[test]
    fn costs_serialise_as_strings() {
        let c = cost(
            TokenCounts {
                input: 1,
                output: 0,
                cached: 0,
            },
            &ModelPrice {
                input: d("3"),
                output: d("0"),
                cached_input: None,
            },
        );
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["input"], "0.000003");
        assert_eq!(json["total"], "0.000003");
    }
}
