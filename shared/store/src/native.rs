//! The database port over tokio-postgres, for native tools and the
//! benchmark's no-Wasm baseline. Same value conventions as the Spin backend.

use std::sync::Arc;

use tokio_postgres::types::{IsNull, ToSql, Type};

use crate::{Database, DbError, Row, Value};

/// A session on a tokio-postgres client.
pub struct NativeDatabase<'c> {
    client: &'c tokio_postgres::Client,
}

impl<'c> NativeDatabase<'c> {
    /// Wraps a connected client (one session; `BEGIN`/`COMMIT` apply to it).
    pub fn new(client: &'c tokio_postgres::Client) -> Self {
        Self { client }
    }
}

/// SQL NULL for a parameter of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn to_sql(v: &Value) -> Box<dyn ToSql + Sync + Send> {
    match v {
        Value::Null | Value::Unsupported(_) => Box::new(Null),
        Value::Bool(b) => Box::new(*b),
        Value::Int(i) => Box::new(*i),
        Value::Float(f) => Box::new(*f),
        Value::Text(s) => Box::new(s.clone()),
        Value::Bytes(b) => Box::new(b.clone()),
        Value::Json(j) => Box::new(j.clone()),
    }
}

fn map_error(err: tokio_postgres::Error) -> DbError {
    if let Some(db) = err.as_db_error() {
        return DbError::from_sqlstate(db.code().code(), db.message(), db.constraint());
    }
    if err.is_closed() {
        return DbError::Unavailable(err.to_string());
    }
    DbError::Unavailable(err.to_string())
}

fn decode(row: &tokio_postgres::Row, i: usize) -> Result<Value, DbError> {
    let ty = row.columns()[i].type_().clone();
    let e = |err: tokio_postgres::Error| DbError::Decode(err.to_string());
    let v = match ty {
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(e)?
            .map(Value::Bool),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(e)?
            .map(|v| Value::Int(i64::from(v))),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(e)?
            .map(|v| Value::Int(i64::from(v))),
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(e)?.map(Value::Int),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map_err(e)?
            .map(|v| Value::Float(f64::from(v))),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(e)?
            .map(Value::Float),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<String>>(i)
            .map_err(e)?
            .map(Value::Text),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map_err(e)?
            .map(Value::Bytes),
        Type::JSON | Type::JSONB => row
            .try_get::<_, Option<serde_json::Value>>(i)
            .map_err(e)?
            .map(Value::Json),
        other => Some(Value::Unsupported(other.name().to_owned())),
    };
    Ok(v.unwrap_or(Value::Null))
}

impl Database for NativeDatabase<'_> {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let boxed: Vec<Box<dyn ToSql + Sync + Send>> = params.iter().map(to_sql).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref() as _).collect();
        let rows = self.client.query(sql, &refs).await.map_err(map_error)?;
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let columns: Arc<[String]> = first
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        rows.iter()
            .map(|r| {
                let values = (0..r.len())
                    .map(|i| decode(r, i))
                    .collect::<Result<_, _>>()?;
                Ok(Row::new(columns.clone(), values))
            })
            .collect()
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        if params.is_empty() {
            // Simple protocol: works for BEGIN/COMMIT and multi-statement text.
            self.client.batch_execute(sql).await.map_err(map_error)?;
            return Ok(0);
        }
        let boxed: Vec<Box<dyn ToSql + Sync + Send>> = params.iter().map(to_sql).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = boxed.iter().map(|b| b.as_ref() as _).collect();
        self.client.execute(sql, &refs).await.map_err(map_error)
    }
}
