//! A statement wrapper that makes every query return at least one row.
//!
//! Spin 4.0.0–4.0.2's synchronous `query` waits for the column list, which it only sends
//! with the first row (spinframework/spin#3671): a query matching no rows never answers.
//! [`wrap`] rewrites a statement `S` into
//!
//! ```sql
//! WITH __cp_q AS (S)
//! SELECT __cp_r.* FROM (SELECT) AS __cp_h
//!   LEFT JOIN (SELECT true AS __cp_row, __cp_q.* FROM __cp_q) AS __cp_r ON true
//! ```
//!
//! which yields `S`'s rows, each led by `__cp_row = true`, or a single row of NULLs when `S`
//! has none; [`strip`] drops that row and the marker column again. `S` keeps its semantics:
//! a `WITH` statement has its final statement appended to its own CTE list instead of being
//! nested (PostgreSQL allows data-modifying CTEs only at the top level), and the outer query
//! can only be planned as a nested loop over the one-row side, so `S`'s row order is kept.

use crate::DbError;

/// The marker column leading every wrapped row (NULL only in the filler row).
pub const MARKER: &str = "__cp_row";

/// Name of the CTE holding the wrapped statement.
const BODY: &str = "__cp_q";

/// The wrapped form of `sql`, or `None` for statements that cannot be wrapped (not a
/// `SELECT`, `VALUES`, `TABLE`, `INSERT`, `UPDATE`, `DELETE` or `WITH`, several statements,
/// or a `WITH` list this reader does not follow); those run as they are.
pub fn wrap(sql: &str) -> Option<String> {
    let tokens = tokenize(sql)?;
    // Only one statement: trailing semicolons are dropped, inner ones refuse.
    let end = tokens.iter().rposition(|t| t.kind != Kind::Semicolon)?;
    if tokens[..end].iter().any(|t| t.kind == Kind::Semicolon) {
        return None;
    }
    let tokens = &tokens[..=end];
    let body_end = tokens[end].end;
    let first = tokens.first()?;
    let tail = format!(
        "\n) SELECT __cp_r.* FROM (SELECT) AS __cp_h LEFT JOIN \
         (SELECT true AS {MARKER}, {BODY}.* FROM {BODY}) AS __cp_r ON true"
    );
    if first.is_word("WITH") {
        let main = main_statement(tokens)?;
        let head = sql[..tokens[main - 1].end].trim_end();
        let body = &sql[tokens[main].start..body_end];
        return Some(format!("{head}, {BODY} AS (\n{body}{tail}"));
    }
    let wrappable = first.kind == Kind::Open
        || ["SELECT", "VALUES", "TABLE", "INSERT", "UPDATE", "DELETE"]
            .iter()
            .any(|k| first.is_word(k));
    if !wrappable {
        return None;
    }
    Some(format!(
        "WITH {BODY} AS (\n{}{tail}",
        &sql[first.start..body_end]
    ))
}

/// The rows of a wrapped statement without the filler row and the marker column: `columns`
/// and `rows` as the driver returned them, `is_null` telling a NULL marker.
pub fn strip<V>(
    mut columns: Vec<String>,
    rows: Vec<Vec<V>>,
    is_null: impl Fn(&V) -> bool,
) -> Result<(Vec<String>, Vec<Vec<V>>), DbError> {
    if columns.first().map(String::as_str) != Some(MARKER) {
        return Err(DbError::Decode(format!(
            "wrapped query returned no {MARKER} column (columns: {columns:?})"
        )));
    }
    columns.remove(0);
    let rows = rows
        .into_iter()
        .filter_map(|mut row| {
            if row.is_empty() || is_null(&row[0]) {
                return None;
            }
            row.remove(0);
            Some(row)
        })
        .collect();
    Ok((columns, rows))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An identifier or keyword (unquoted).
    Word,
    /// A quoted identifier.
    Quoted,
    /// A parenthesised group, nested content included.
    Open,
    Comma,
    Semicolon,
    /// Literals, operators, parameters: anything else.
    Other,
}

/// A top-level token of a statement: its kind and byte range.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    start: usize,
    end: usize,
}

impl Token<'_> {
    fn is_word(&self, word: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(word)
    }

    fn is_name(&self) -> bool {
        matches!(self.kind, Kind::Word | Kind::Quoted)
    }
}

/// The top-level tokens of `sql` (parenthesised groups are one token), skipping comments,
/// strings, quoted identifiers and dollar-quoted text; `None` when one is left open.
fn tokenize(sql: &str) -> Option<Vec<Token<'_>>> {
    let b = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut depth = 0usize;
    let mut group_start = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let kind = match c {
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n + 1);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(b, i)?;
                continue;
            }
            b'\'' => {
                // An E'...' string lets a backslash escape the quote.
                let escapes = i > 0 && matches!(b[i - 1], b'e' | b'E') && tokens_end_at(b, i);
                i = skip_quoted(b, i, b'\'', escapes)?;
                Kind::Other
            }
            b'"' => {
                i = skip_quoted(b, i, b'"', false)?;
                Kind::Quoted
            }
            b'$' => {
                i = skip_dollar(sql, i);
                Kind::Other
            }
            b'(' => {
                if depth == 0 {
                    group_start = i;
                }
                depth += 1;
                i += 1;
                continue;
            }
            b')' => {
                depth = depth.checked_sub(1)?;
                i += 1;
                if depth == 0 {
                    tokens.push(Token {
                        kind: Kind::Open,
                        text: &sql[group_start..i],
                        start: group_start,
                        end: i,
                    });
                }
                continue;
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            b';' => {
                i += 1;
                Kind::Semicolon
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                while i < b.len() && is_word_byte(b[i]) {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                i += 1;
                Kind::Other
            }
        };
        if depth == 0 {
            tokens.push(Token {
                kind,
                text: &sql[start..i],
                start,
                end: i,
            });
        }
    }
    (depth == 0).then_some(tokens)
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Whether the `E` before position `i` is a lone prefix (not the end of a longer word).
fn tokens_end_at(b: &[u8], i: usize) -> bool {
    i < 2 || !is_word_byte(b[i - 2])
}

fn skip_block_comment(b: &[u8], mut i: usize) -> Option<usize> {
    // Block comments nest in PostgreSQL.
    let mut depth = 0usize;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Some(i);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Skips a quoted string or identifier starting at `i` (doubled quotes escape a quote).
fn skip_quoted(b: &[u8], mut i: usize, quote: u8, backslash_escapes: bool) -> Option<usize> {
    i += 1;
    while i < b.len() {
        if backslash_escapes && b[i] == b'\\' {
            i += 2;
        } else if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return Some(i + 1);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Skips `$n` (a parameter) or `$tag$ ... $tag$` (dollar-quoted text) starting at `i`.
fn skip_dollar(sql: &str, i: usize) -> usize {
    let b = sql.as_bytes();
    let mut j = i + 1;
    if b.get(j).is_some_and(u8::is_ascii_digit) {
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        return j;
    }
    while b
        .get(j)
        .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80)
    {
        j += 1;
    }
    if b.get(j) != Some(&b'$') {
        return i + 1;
    }
    let tag = &sql[i..=j];
    match sql[j + 1..].find(tag) {
        Some(n) => j + 1 + n + tag.len(),
        // Unterminated: PostgreSQL will refuse it; consume the rest.
        None => sql.len(),
    }
}

/// The index of the token starting the final statement of a `WITH` statement:
/// `WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (query) [SEARCH ...] [CYCLE ...], ...`.
fn main_statement(t: &[Token<'_>]) -> Option<usize> {
    let mut i = 1;
    if t.get(i)?.is_word("RECURSIVE") {
        i += 1;
    }
    loop {
        if !t.get(i)?.is_name() {
            return None;
        }
        i += 1;
        if t.get(i)?.kind == Kind::Open {
            i += 1;
        }
        if !t.get(i)?.is_word("AS") {
            return None;
        }
        i += 1;
        if t.get(i)?.is_word("NOT") {
            i += 1;
        }
        if t.get(i)?.is_word("MATERIALIZED") {
            i += 1;
        }
        if t.get(i)?.kind != Kind::Open {
            return None;
        }
        i += 1;
        if t.get(i)?.is_word("SEARCH") {
            // SEARCH {BREADTH | DEPTH} FIRST BY col [, ...] SET col
            i += 1;
            if !(t.get(i)?.is_word("BREADTH") || t.get(i)?.is_word("DEPTH")) {
                return None;
            }
            if !t.get(i + 1)?.is_word("FIRST") || !t.get(i + 2)?.is_word("BY") {
                return None;
            }
            i = name_list(t, i + 3)?;
            if !t.get(i)?.is_word("SET") || !t.get(i + 1)?.is_name() {
                return None;
            }
            i += 2;
        }
        if t.get(i)?.is_word("CYCLE") {
            // CYCLE col [, ...] SET col [TO value DEFAULT value] USING col
            i = name_list(t, i + 1)?;
            if !t.get(i)?.is_word("SET") || !t.get(i + 1)?.is_name() {
                return None;
            }
            i += 2;
            if t.get(i)?.is_word("TO") {
                if !t.get(i + 2)?.is_word("DEFAULT") {
                    return None;
                }
                i += 4;
            }
            if !t.get(i)?.is_word("USING") || !t.get(i + 1)?.is_name() {
                return None;
            }
            i += 2;
        }
        if t.get(i)?.kind == Kind::Comma {
            i += 1;
            continue;
        }
        return Some(i);
    }
}

/// Skips `name [, name ...]` from `i`; the index after it.
fn name_list(t: &[Token<'_>], mut i: usize) -> Option<usize> {
    loop {
        if !t.get(i)?.is_name() {
            return None;
        }
        i += 1;
        if t.get(i).map(|x| x.kind) != Some(Kind::Comma) {
            return Some(i);
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TAIL: &str = "\n) SELECT __cp_r.* FROM (SELECT) AS __cp_h LEFT JOIN \
         (SELECT true AS __cp_row, __cp_q.* FROM __cp_q) AS __cp_r ON true";

    #[test]
    fn plain_statements_become_the_body_of_one_cte() {
        for sql in [
            "SELECT 1",
            "select * from t where a = $1",
            "INSERT INTO t VALUES ($1) RETURNING id",
            "UPDATE t SET a = 1 WHERE id = $1 RETURNING *",
            "DELETE FROM t WHERE id = $1 RETURNING id",
            "VALUES (1), (2)",
            "TABLE t",
            "(SELECT 1) UNION ALL (SELECT 2)",
        ] {
            assert_eq!(
                wrap(sql).unwrap(),
                format!("WITH __cp_q AS (\n{sql}{TAIL}"),
                "{sql}"
            );
        }
    }

    #[test]
    fn leading_comments_and_trailing_semicolons_are_handled() {
        assert_eq!(
            wrap("  -- list\n/* all /* nested */ */ SELECT 1 ; ;  ").unwrap(),
            format!("WITH __cp_q AS (\nSELECT 1{TAIL}")
        );
        // A trailing line comment cannot swallow the closing parenthesis.
        assert_eq!(
            wrap("SELECT 1 -- the end").unwrap(),
            format!("WITH __cp_q AS (\nSELECT 1{TAIL}")
        );
        let with_comment = wrap("SELECT 1 -- the end\n, 2").unwrap();
        assert!(with_comment.starts_with("WITH __cp_q AS (\nSELECT 1 -- the end\n, 2\n)"));
    }

    #[test]
    fn with_statements_get_the_final_statement_appended_to_their_list() {
        let sql = "WITH gone AS (\n DELETE FROM c WHERE u = $1\n)\n DELETE FROM m WHERE u = $1 RETURNING u";
        assert_eq!(
            wrap(sql).unwrap(),
            format!(
                "WITH gone AS (\n DELETE FROM c WHERE u = $1\n), __cp_q AS (\nDELETE FROM m WHERE u = $1 RETURNING u{TAIL}"
            )
        );
        let sql = "with recursive t(n) as (select 1 union all select n + 1 from t where n < 3), \
                   \"Odd, Name\" AS NOT MATERIALIZED (SELECT 2) SELECT * FROM t, \"Odd, Name\"";
        assert_eq!(
            wrap(sql).unwrap(),
            format!(
                "with recursive t(n) as (select 1 union all select n + 1 from t where n < 3), \
                 \"Odd, Name\" AS NOT MATERIALIZED (SELECT 2), __cp_q AS (\nSELECT * FROM t, \"Odd, Name\"{TAIL}"
            )
        );
        let sql = "WITH RECURSIVE t(id, p) AS (SELECT 1, 0) SEARCH DEPTH FIRST BY id, p SET ord \
                   CYCLE id SET seen TO true DEFAULT false USING path, u AS (SELECT 1) TABLE t";
        assert!(wrap(sql)
            .unwrap()
            .contains("USING path, u AS (SELECT 1), __cp_q AS (\nTABLE t\n)"));
    }

    #[test]
    fn strings_identifiers_and_dollar_quotes_are_opaque() {
        let sql =
            "SELECT ')' AS a, E'\\')' AS b, \"(\" AS c, $t$ ) ; $t$ AS d, $1 AS e, 'it''s;' AS f";
        assert_eq!(wrap(sql).unwrap(), format!("WITH __cp_q AS (\n{sql}{TAIL}"));
        let sql = "WITH a AS (SELECT ';' AS x, $$ ) $$ AS y) SELECT * FROM a";
        assert!(wrap(sql).unwrap().starts_with(
            "WITH a AS (SELECT ';' AS x, $$ ) $$ AS y), __cp_q AS (\nSELECT * FROM a"
        ));
    }

    #[test]
    fn what_cannot_be_wrapped_runs_as_it_is() {
        for sql in [
            "",
            " ;",
            "SHOW work_mem",
            "BEGIN",
            "EXPLAIN SELECT 1",
            "SELECT 1; SELECT 2",
            "SELECT (1",
            "SELECT 'open",
            "WITH a AS SELECT 1",
            "WITH a AS (SELECT 1) SEARCH WIDE FIRST BY x SET y SELECT 1",
        ] {
            assert_eq!(wrap(sql), None, "{sql}");
        }
    }

    #[test]
    fn strip_drops_the_filler_row_and_the_marker() {
        let cols = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let (columns, rows) = strip(
            cols(&[MARKER, "id"]),
            vec![vec![None::<i32>, None]],
            Option::is_none,
        )
        .unwrap();
        assert_eq!(columns, cols(&["id"]));
        assert!(rows.is_empty());

        let (columns, rows) = strip(
            cols(&[MARKER, "id", "name"]),
            vec![
                vec![Some(1), Some(7), None],
                vec![Some(1), Some(8), Some(2)],
            ],
            Option::is_none,
        )
        .unwrap();
        assert_eq!(columns, cols(&["id", "name"]));
        assert_eq!(rows, vec![vec![Some(7), None], vec![Some(8), Some(2)]]);

        assert!(matches!(
            strip(cols(&["id"]), vec![vec![Some(1)]], Option::is_none),
            Err(DbError::Decode(_))
        ));
    }
}
