//! The database port over Spin's outbound PostgreSQL
//! (`spin:postgres/postgres@4.0.0`). The host pools connections per address,
//! so opening one per request is cheap; it is opened lazily, on first use,
//! so requests that never touch the database never connect.

use std::cell::OnceCell;
use std::sync::Arc;

use spin_sdk::pg4::{self, Connection, DbValue, ParameterValue};

use crate::{sentinel, Database, DbError, Row, Value};

/// A request's database session through Spin.
pub struct SpinDatabase {
    address: String,
    conn: OnceCell<Connection>,
}

impl SpinDatabase {
    /// A session to `address` (a `postgres://` URL), connected on first use.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            conn: OnceCell::new(),
        }
    }

    fn conn(&self) -> Result<&Connection, DbError> {
        if let Some(c) = self.conn.get() {
            return Ok(c);
        }
        let opened = Connection::open(&self.address).map_err(map_error)?;
        opened
            .execute(crate::SESSION_START, &[])
            .map_err(map_error)?;
        Ok(self.conn.get_or_init(|| opened))
    }
}

impl Database for SpinDatabase {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let params: Vec<ParameterValue> = params.iter().map(to_param).collect();
        // Every query goes out wrapped so it yields a row (see `sentinel`): Spin
        // 4.0.0–4.0.2 never answer a query that matches none.
        let wrapped = sentinel::wrap(sql);
        let set = self
            .conn()?
            .query(wrapped.as_deref().unwrap_or(sql), &params)
            .map_err(map_error)?;
        let names = set.columns.into_iter().map(|c| c.name).collect();
        let (names, rows) = match wrapped {
            Some(_) => sentinel::strip(names, set.rows, |v| matches!(v, DbValue::DbNull))?,
            None => (names, set.rows),
        };
        let columns: Arc<[String]> = names.into();
        rows.into_iter()
            .map(|r| {
                let values = r.into_iter().map(from_db).collect::<Result<Vec<_>, _>>()?;
                Ok(Row::new(columns.clone(), values))
            })
            .collect()
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let params: Vec<ParameterValue> = params.iter().map(to_param).collect();
        self.conn()?.execute(sql, &params).map_err(map_error)
    }
}

fn to_param(v: &Value) -> ParameterValue {
    match v {
        Value::Null | Value::Unsupported(_) => ParameterValue::DbNull,
        Value::Bool(b) => ParameterValue::Boolean(*b),
        Value::Int(i) => ParameterValue::Int64(*i),
        Value::Float(f) => ParameterValue::Floating64(*f),
        Value::Text(s) => ParameterValue::Str(s.clone()),
        Value::Bytes(b) => ParameterValue::Binary(b.clone()),
        Value::Json(j) => ParameterValue::Jsonb(serde_json::to_vec(j).unwrap_or_default()),
    }
}

fn from_db(v: DbValue) -> Result<Value, DbError> {
    Ok(match v {
        DbValue::DbNull => Value::Null,
        DbValue::Boolean(b) => Value::Bool(b),
        DbValue::Int8(i) => Value::Int(i64::from(i)),
        DbValue::Int16(i) => Value::Int(i64::from(i)),
        DbValue::Int32(i) => Value::Int(i64::from(i)),
        DbValue::Int64(i) => Value::Int(i),
        DbValue::Floating32(f) => Value::Float(f64::from(f)),
        DbValue::Floating64(f) => Value::Float(f),
        DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => Value::Text(s),
        DbValue::Binary(b) => Value::Bytes(b),
        DbValue::Jsonb(bytes) => Value::Json(
            serde_json::from_slice(&bytes).map_err(|e| DbError::Decode(format!("jsonb: {e}")))?,
        ),
        other => Value::Unsupported(format!("{other:?}").chars().take(40).collect()),
    })
}

fn map_error(err: pg4::PgError) -> DbError {
    match err {
        pg4::PgError::ConnectionFailed(msg) => DbError::Unavailable(msg),
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(e)) => {
            let constraint = e
                .extras
                .iter()
                .find(|(k, _)| k == "constraint")
                .map(|(_, v)| v.as_str());
            DbError::from_sqlstate(&e.code, &e.message, constraint)
        }
        pg4::PgError::QueryFailed(pg4::QueryError::Text(msg)) => DbError::from_driver_text(&msg),
        pg4::PgError::BadParameter(msg) | pg4::PgError::ValueConversionFailed(msg) => {
            DbError::Decode(msg)
        }
        pg4::PgError::Other(msg) => DbError::Unavailable(msg),
    }
}
