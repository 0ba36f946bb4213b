//! Result rows with typed, named access.

use std::sync::Arc;

use crate::{DbError, Value};

/// A value read from one result row: the one way a domain type is decoded
/// from SQL (see [`crate::Database::fetch_all`] and its siblings). Each
/// implementation names the columns it reads; the query constants that feed
/// it select exactly those.
pub trait FromRow: Sized {
    /// Reads the value from `row` (a missing or mistyped column is a
    /// [`DbError::Decode`]).
    fn from_row(row: &Row) -> Result<Self, DbError>;
}

/// One result row.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// A row from column names and values (backends build these).
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// The raw value of a column.
    pub fn value(&self, column: &str) -> Result<&Value, DbError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| DbError::Decode(format!("no column {column}")))
    }

    fn mismatch(column: &str, want: &str, got: &Value) -> DbError {
        DbError::Decode(format!("column {column}: expected {want}, got {got:?}"))
    }

    /// A non-null text column.
    pub fn text(&self, column: &str) -> Result<String, DbError> {
        match self.value(column)? {
            Value::Text(s) => Ok(s.clone()),
            other => Err(Self::mismatch(column, "text", other)),
        }
    }

    /// A nullable text column.
    pub fn opt_text(&self, column: &str) -> Result<Option<String>, DbError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            other => Err(Self::mismatch(column, "text or null", other)),
        }
    }

    /// A non-null integer column.
    pub fn i64(&self, column: &str) -> Result<i64, DbError> {
        match self.value(column)? {
            Value::Int(v) => Ok(*v),
            other => Err(Self::mismatch(column, "integer", other)),
        }
    }

    /// A nullable integer column.
    pub fn opt_i64(&self, column: &str) -> Result<Option<i64>, DbError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            other => Err(Self::mismatch(column, "integer or null", other)),
        }
    }

    /// A non-null boolean column.
    pub fn bool(&self, column: &str) -> Result<bool, DbError> {
        match self.value(column)? {
            Value::Bool(v) => Ok(*v),
            other => Err(Self::mismatch(column, "boolean", other)),
        }
    }

    /// A JSON column (`null` for SQL NULL).
    pub fn json(&self, column: &str) -> Result<serde_json::Value, DbError> {
        match self.value(column)? {
            Value::Null => Ok(serde_json::Value::Null),
            Value::Json(v) => Ok(v.clone()),
            other => Err(Self::mismatch(column, "json", other)),
        }
    }

    /// A non-null bytea column.
    pub fn bytes(&self, column: &str) -> Result<Vec<u8>, DbError> {
        match self.value(column)? {
            Value::Bytes(v) => Ok(v.clone()),
            other => Err(Self::mismatch(column, "bytea", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn typed_access_and_mismatches() {
        let row = Row::new(
            vec!["name".to_owned(), "n".to_owned(), "gone".to_owned()].into(),
            vec![Value::Text("acme".into()), Value::Int(3), Value::Null],
        );
        assert_eq!(row.text("name").unwrap(), "acme");
        assert_eq!(row.i64("n").unwrap(), 3);
        assert_eq!(row.opt_text("gone").unwrap(), None);
        assert!(row.text("n").is_err());
        assert!(row.i64("missing").is_err());
    }
}
