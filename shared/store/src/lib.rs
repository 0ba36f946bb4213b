//! PostgreSQL access as a port.
//!
//! Domain code talks to a [`Database`]: one database session (a pooled
//! connection for the duration of a request) that runs parameterised SQL and
//! returns [`Row`]s of [`Value`]s. Components use Spin's outbound PostgreSQL
//! interface (feature `spin`); native tools and the benchmark baseline use
//! tokio-postgres (feature `native`). Errors are classified once here
//! ([`DbError`]) so callers can map a unique violation to a 409 and a lost
//! connection to a 503 without looking at SQLSTATE codes.
//!
//! Conventions that keep both backends identical: parameters are sent as
//! `bool`, `int8`, `text`, `bytea` or `jsonb`, so SQL casts where a column has
//! another type (`$1::text::timestamptz`); timestamps are read back as
//! microseconds (`(extract(epoch from t) * 1e6)::int8`).

mod error;
mod row;
pub mod sentinel;
mod tx;
mod value;

#[cfg(feature = "native")]
pub mod native;
#[cfg(feature = "spin")]
pub mod spin;

pub use error::DbError;
pub use row::Row;
pub use tx::transaction;
pub use value::Value;

/// The first statement of every database session a component opens. Spin's pool
/// (deadpool-postgres, `RecyclingMethod::Clean`) resets session settings when it lends a
/// connection but does not end a transaction: a component that trapped between `BEGIN` and
/// `COMMIT` leaves the next user of that connection inside its transaction. Ending it
/// first keeps that from ever mixing two requests' work (outside a transaction PostgreSQL
/// only warns).
pub const SESSION_START: &str = "ROLLBACK";

/// One database session.
#[allow(async_fn_in_trait)]
pub trait Database {
    /// Runs a query and returns its rows.
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;

    /// Runs a statement and returns the number of rows it affected.
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError>;

    /// Runs a query expected to return at most one row.
    async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs a query expected to return exactly one row.
    async fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row, DbError> {
        self.query_opt(sql, params)
            .await?
            .ok_or_else(|| DbError::Decode("query returned no row".into()))
    }
}

impl<D: Database> Database for &D {
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        (**self).query(sql, params).await
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        (**self).execute(sql, params).await
    }
}
