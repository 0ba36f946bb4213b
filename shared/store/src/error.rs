//! Database errors, classified by what the caller can do about them.

/// Why a database call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached (down, restarting, pool exhausted):
    /// a 503 for the client, worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint rejected the write (SQLSTATE 23505).
    #[error("unique constraint {constraint} violated")]
    UniqueViolation {
        /// The constraint name, when PostgreSQL reported it.
        constraint: String,
    },
    /// A foreign key rejected the write (23503).
    #[error("foreign key violated: {0}")]
    ForeignKeyViolation(String),
    /// A check constraint rejected the write (23514).
    #[error("check constraint violated: {0}")]
    CheckViolation(String),
    /// Serialization failure or deadlock (40001, 40P01): retry the transaction.
    #[error("transaction conflict: {0}")]
    TransactionConflict(String),
    /// Any other SQL error (a bug, not a client error).
    #[error("query failed ({code}): {message}")]
    Query {
        /// SQLSTATE.
        code: String,
        /// PostgreSQL's message.
        message: String,
    },
    /// A value did not have the expected type or was missing.
    #[error("cannot decode result: {0}")]
    Decode(String),
}

impl DbError {
    /// Classifies a PostgreSQL error by SQLSTATE.
    pub fn from_sqlstate(code: &str, message: &str, constraint: Option<&str>) -> Self {
        match code {
            "23505" => Self::UniqueViolation {
                constraint: constraint.unwrap_or_default().to_owned(),
            },
            "23503" => Self::ForeignKeyViolation(message.to_owned()),
            "23514" => Self::CheckViolation(message.to_owned()),
            "40001" | "40P01" => Self::TransactionConflict(message.to_owned()),
            // Class 08: connection exceptions; 57P01..03: admin shutdown,
            // crash shutdown, cannot connect now; 53300: too many connections.
            c if c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "53300") => {
                Self::Unavailable(message.to_owned())
            }
            _ => Self::Query {
                code: code.to_owned(),
                message: message.to_owned(),
            },
        }
    }

    /// Classifies a driver error that arrived as text: Spin hands an error raised while
    /// rows stream back (a unique violation from `INSERT … RETURNING`, a serialization
    /// failure, a dropped connection) to the component as `QueryError::Text`, holding the
    /// debug form of tokio-postgres's error, so the SQLSTATE is only inside that text.
    /// Both debug forms are read: tokio-postgres's (`code: SqlState(E23505)`) and Spin's
    /// own error record (`code: "23505"`).
    pub fn from_driver_text(text: &str) -> Self {
        if let Some((code, at)) = sqlstate_in(text) {
            // Fields after the code belong to the same error; user data (in the message
            // or detail) only ever follows the code, so it cannot forge one.
            let rest = &text[at..];
            let message = debug_string_after(rest, "message: \"").unwrap_or_else(|| text.into());
            let constraint = debug_string_after(rest, "constraint: Some(\"")
                .or_else(|| debug_string_after(rest, "(\"constraint\", \""));
            return Self::from_sqlstate(&code, &message, constraint.as_deref());
        }
        const LOST: [&str; 8] = [
            "kind: Closed",
            "kind: Io",
            "kind: Connect",
            "kind: Timeout",
            "connection closed",
            "error communicating with the server",
            "Connection reset",
            "Broken pipe",
        ];
        if LOST.iter().any(|marker| text.contains(marker)) {
            return Self::Unavailable(text.to_owned());
        }
        Self::Query {
            code: String::new(),
            message: text.to_owned(),
        }
    }
}

/// The first SQLSTATE in a debug text and the offset just after it.
fn sqlstate_in(text: &str) -> Option<(String, usize)> {
    let is_code = |s: &str| {
        s.len() == 5
            && s.bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    };
    let forms: [(&str, &str); 3] = [
        ("code: SqlState(E", ")"),
        ("code: SqlState(Other(\"", "\")"),
        ("code: \"", "\""),
    ];
    forms
        .iter()
        .filter_map(|(open, close)| {
            let start = text.find(open)? + open.len();
            let code = text.get(start..start + 5)?;
            let after = start + 5;
            (is_code(code) && text[after..].starts_with(close))
                .then(|| (start, code.to_owned(), after + close.len()))
        })
        .min_by_key(|(start, _, _)| *start)
        .map(|(_, code, after)| (code, after))
}

/// The Rust debug string literal following the first `prefix` in `text` (the prefix ends
/// with its opening quote), unescaped.
fn debug_string_after(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)? + prefix.len();
    let mut out = String::new();
    let mut chars = text[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                'u' => {
                    let hex: String = chars.by_ref().skip(1).take_while(|&h| h != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn classifies_sqlstates() {
        assert_eq!(
            DbError::from_sqlstate("23505", "dup", Some("tenants_pkey")),
            DbError::UniqueViolation {
                constraint: "tenants_pkey".into()
            }
        );
        assert!(matches!(
            DbError::from_sqlstate("40001", "x", None),
            DbError::TransactionConflict(_)
        ));
        assert!(matches!(
            DbError::from_sqlstate("57P01", "x", None),
            DbError::Unavailable(_)
        ));
        assert!(matches!(
            DbError::from_sqlstate("08006", "x", None),
            DbError::Unavailable(_)
        ));
        assert!(matches!(
            DbError::from_sqlstate("42P01", "x", None),
            DbError::Query { .. }
        ));
    }

    /// tokio-postgres's `{:?}` of a server error, as Spin puts it in `QueryError::Text`.
    fn driver_text(severity: &str, code: &str, message: &str, tail: &str) -> String {
        let parsed = match severity {
            "FATAL" => "Fatal",
            _ => "Error",
        };
        format!(
            "Error {{ kind: Db, cause: Some(DbError {{ severity: {severity:?}, parsed_severity: Some({parsed}), \
             code: SqlState({code}), message: {message:?}, {tail} }}) }}"
        )
    }

    const NO_FIELDS: &str =
        "detail: None, hint: None, position: None, where_: None, schema: None, \
        table: None, column: None, datatype: None, constraint: None, file: Some(\"postgres.c\"), \
        line: Some(3300), routine: Some(\"ProcessInterrupts\")";

    #[test]
    fn classifies_errors_that_arrive_as_text() {
        let unique = driver_text(
            "ERROR",
            "E23505",
            "duplicate key value violates unique constraint \"users_email_key\"",
            "detail: Some(\"Key (email)=(a@example.com) already exists.\"), hint: None, position: None, \
             where_: None, schema: Some(\"public\"), table: Some(\"users\"), column: None, datatype: None, \
             constraint: Some(\"users_email_key\"), file: Some(\"nbtinsert.c\"), line: Some(666), \
             routine: Some(\"_bt_check_unique\")",
        );
        assert_eq!(
            DbError::from_driver_text(&unique),
            DbError::UniqueViolation {
                constraint: "users_email_key".into()
            }
        );

        let fk = driver_text(
            "ERROR",
            "E23503",
            "insert or update on table \"org_members\" violates foreign key constraint \"org_members_org_id_fkey\"",
            "detail: Some(\"Key (org_id)=(0190c1f2-0000-7000-8000-000000000001) is not present in table \\\"organizations\\\".\"), \
             hint: None, position: None, where_: None, schema: Some(\"public\"), table: Some(\"org_members\"), \
             column: None, datatype: None, constraint: Some(\"org_members_org_id_fkey\"), file: Some(\"ri_triggers.c\"), \
             line: Some(2608), routine: Some(\"ri_ReportViolation\")",
        );
        assert_eq!(
            DbError::from_driver_text(&fk),
            DbError::ForeignKeyViolation(
                "insert or update on table \"org_members\" violates foreign key constraint \"org_members_org_id_fkey\""
                    .into()
            )
        );

        // The detail quotes user data that looks like a code: the real code comes first.
        let check = driver_text(
            "ERROR",
            "E23514",
            "new row for relation \"tenants\" violates check constraint \"tenants_budget_check\"",
            "detail: Some(\"Failing row contains (code: SqlState(E23505), code: \\\"40001\\\").\"), hint: None, \
             position: None, where_: None, schema: Some(\"public\"), table: Some(\"tenants\"), column: None, \
             datatype: None, constraint: Some(\"tenants_budget_check\"), file: Some(\"execMain.c\"), \
             line: Some(2014), routine: Some(\"ExecConstraints\")",
        );
        assert!(matches!(
            DbError::from_driver_text(&check),
            DbError::CheckViolation(m) if m.contains("tenants_budget_check")
        ));

        let not_null = driver_text(
            "ERROR",
            "E23502",
            "null value in column \"email\" of relation \"users\" violates not-null constraint",
            "detail: None, hint: None, position: None, where_: None, schema: Some(\"public\"), \
             table: Some(\"users\"), column: Some(\"email\"), datatype: None, constraint: None, \
             file: Some(\"execMain.c\"), line: Some(1972), routine: Some(\"ExecConstraints\")",
        );
        assert!(matches!(
            DbError::from_driver_text(&not_null),
            DbError::Query { code, message } if code == "23502" && message.contains("not-null")
        ));

        let serialization = driver_text(
            "ERROR",
            "E40001",
            "could not serialize access due to concurrent update",
            NO_FIELDS,
        );
        assert_eq!(
            DbError::from_driver_text(&serialization),
            DbError::TransactionConflict(
                "could not serialize access due to concurrent update".into()
            )
        );

        let deadlock = driver_text(
            "ERROR",
            "E40P01",
            "deadlock detected",
            "detail: Some(\"Process 4242 waits for ShareLock on transaction 771; blocked by process 4243.\\nProcess 4243 waits for ShareLock on transaction 770; blocked by process 4242.\"), \
             hint: Some(\"See server log for query details.\"), position: None, where_: Some(\"while updating tuple (0,1) in relation \\\"t\\\"\"), \
             schema: None, table: None, column: None, datatype: None, constraint: None, file: Some(\"deadlock.c\"), \
             line: Some(1148), routine: Some(\"DeadLockReport\")",
        );
        assert_eq!(
            DbError::from_driver_text(&deadlock),
            DbError::TransactionConflict("deadlock detected".into())
        );

        let shutdown = driver_text(
            "FATAL",
            "E57P01",
            "terminating connection due to administrator command",
            NO_FIELDS,
        );
        assert!(matches!(
            DbError::from_driver_text(&shutdown),
            DbError::Unavailable(_)
        ));

        let unknown = driver_text("ERROR", "Other(\"ZZ999\")", "custom", NO_FIELDS);
        assert_eq!(
            DbError::from_driver_text(&unknown),
            DbError::Query {
                code: "ZZ999".into(),
                message: "custom".into()
            }
        );
    }

    #[test]
    fn lost_connections_in_text_are_unavailable() {
        for text in [
            "Error { kind: Closed, cause: None }",
            "Error { kind: Io, cause: Some(Os { code: 104, kind: ConnectionReset, message: \"Connection reset by peer\" }) }",
            "Error { kind: Io, cause: Some(Kind(UnexpectedEof)) }",
        ] {
            assert!(
                matches!(DbError::from_driver_text(text), DbError::Unavailable(_)),
                "{text}"
            );
        }
    }

    #[test]
    fn spin_error_records_in_text_are_read_too() {
        // Spin's own `db-error` record in debug form, with the driver's text inside it.
        let inner = driver_text(
            "ERROR",
            "E23505",
            "duplicate key value violates unique constraint \"models_name_key\"",
            "detail: None, hint: None, position: None, where_: None, schema: Some(\"public\"), \
             table: Some(\"models\"), column: None, datatype: None, constraint: Some(\"models_name_key\"), \
             file: Some(\"nbtinsert.c\"), line: Some(666), routine: Some(\"_bt_check_unique\")",
        );
        let record = format!(
            "QueryFailed(DbError(DbError {{ as_text: {inner:?}, severity: \"ERROR\", code: \"23505\", \
             message: \"duplicate key value violates unique constraint \\\"models_name_key\\\"\", detail: None, \
             extras: [(\"constraint\", \"models_name_key\"), (\"table\", \"models\")] }}))"
        );
        assert_eq!(
            DbError::from_driver_text(&record),
            DbError::UniqueViolation {
                constraint: "models_name_key".into()
            }
        );
        let bare = "DbError { severity: \"ERROR\", code: \"40001\", message: \"could not serialize access due to read/write dependencies among transactions\", \
                    detail: Some(\"Reason code: Canceled on identification as a pivot, during commit attempt.\"), extras: [] }";
        assert!(matches!(
            DbError::from_driver_text(bare),
            DbError::TransactionConflict(m) if m.starts_with("could not serialize")
        ));
    }

    #[test]
    fn other_text_stays_a_query_error() {
        let text = "Error { kind: FromSql(0), cause: Some(WrongType { postgres: Timestamptz, rust: \"chrono::naive::datetime::NaiveDateTime\" }) }";
        assert_eq!(
            DbError::from_driver_text(text),
            DbError::Query {
                code: String::new(),
                message: text.into()
            }
        );
        // Escapes in messages are undone.
        let text = driver_text("ERROR", "E22P02", "bad \"x\"\tand \u{1b} é", NO_FIELDS);
        assert_eq!(
            DbError::from_driver_text(&text),
            DbError::Query {
                code: "22P02".into(),
                message: "bad \"x\"\tand \u{1b} é".into()
            }
        );
    }
}
