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
}
