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
//! microseconds since the Unix epoch ([`epoch_micros!`]) and sent as such
//! ([`micros_timestamptz!`]): Spin's PostgreSQL interface cannot read
//! `timestamptz` into its datetime type.

#![deny(missing_docs)]

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
pub use row::{FromRow, Row};
pub use tx::transaction;
pub use value::Value;

/// SQL for a `timestamptz` expression as Unix microseconds (`int8`), for
/// `concat!` in query constants: `epoch_micros!("created_at")` is
/// `(extract(epoch FROM created_at) * 1000000)::int8`.
#[macro_export]
macro_rules! epoch_micros {
    ($expr:literal) => {
        concat!("(extract(epoch FROM ", $expr, ") * 1000000)::int8")
    };
}

/// SQL for the `timestamptz` of an `int8` of Unix microseconds (the inverse
/// of [`epoch_micros!`]), for `concat!` in query constants:
/// `micros_timestamptz!("$2")` is
/// `timestamptz 'epoch' + $2::int8 * interval '1 microsecond'`.
#[macro_export]
macro_rules! micros_timestamptz {
    ($expr:literal) => {
        concat!(
            "timestamptz 'epoch' + ",
            $expr,
            "::int8 * interval '1 microsecond'"
        )
    };
}

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

    /// Runs a query and reads every row as a `T`.
    async fn fetch_all<T: FromRow>(&self, sql: &str, params: &[Value]) -> Result<Vec<T>, DbError> {
        self.query(sql, params)
            .await?
            .iter()
            .map(T::from_row)
            .collect()
    }

    /// Runs a query expected to return at most one row, read as a `T`.
    async fn fetch_opt<T: FromRow>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<T>, DbError> {
        self.query_opt(sql, params)
            .await?
            .map(|r| T::from_row(&r))
            .transpose()
    }

    /// Runs a query expected to return exactly one row, read as a `T`.
    async fn fetch_one<T: FromRow>(&self, sql: &str, params: &[Value]) -> Result<T, DbError> {
        T::from_row(&self.query_one(sql, params).await?)
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

#[cfg(test)]
mod tests {
    #[test]
    fn epoch_micros_sql() {
        const READ: &str = concat!("SELECT ", epoch_micros!("created_at"), " AS created_micros");
        assert_eq!(
            READ,
            "SELECT (extract(epoch FROM created_at) * 1000000)::int8 AS created_micros"
        );
        assert_eq!(
            micros_timestamptz!("$2"),
            "timestamptz 'epoch' + $2::int8 * interval '1 microsecond'"
        );
    }
}
