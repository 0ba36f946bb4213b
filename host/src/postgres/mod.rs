//! `spin:postgres/postgres@4.0.0`: outbound PostgreSQL for components, over tokio-postgres.
//!
//! `open` checks the address against the component's `allowed_outbound_hosts`, then lends a
//! connection from the per-address pool; dropping the resource returns it.
//!
//! Answers take the shapes Spin 4.0's give:
//! - an error found before any row streams back (parse, plan, bind) is a structured
//!   `db-error`; one raised while rows stream back (a unique violation from
//!   `INSERT … RETURNING`, a serialization failure, a dropped connection) is
//!   `query-error::text` holding the driver error's debug form, SQLSTATE only inside it;
//! - the column list comes from the first row. Spin 4.0.0–4.0.2 therefore never answer a
//!   query that matches no rows (spinframework/spin#3671). What the host does instead is
//!   chosen by `CP_HOST_PG_EMPTY_RESULT` (see [`EmptyResult`]).

mod convert;
mod pool;

use tokio_postgres::types::ToSql;
use wasmtime::component::Resource;

use crate::bindings::postgres::{
    self, DbError, Error as PgError, ParameterValue, QueryError, RowSet,
};
use crate::runtime::InstanceState;
use cp_outbound::AllowedHosts;

pub(crate) use pool::Pools;

/// The host side of a guest's `connection` resource.
// `pub` because the bindgen-generated bindings re-export it; the crate does not.
#[allow(unreachable_pub)]
pub struct Connection {
    client: pool::PooledClient,
}

impl postgres::Host for InstanceState {}

impl postgres::HostConnection for InstanceState {
    async fn open(
        &mut self,
        address: String,
    ) -> anyhow::Result<Result<Resource<Connection>, PgError>> {
        let config = match check_address(&self.component().allowed_hosts, &address) {
            Ok(config) => config,
            Err(reason) => {
                eprintln!("cp-host: component {}: {reason}", self.component().id);
                return Ok(Err(PgError::ConnectionFailed(reason)));
            }
        };
        match self.pg_pools().acquire(&address, config).await {
            Ok(client) => Ok(Ok(self.table().push(Connection { client })?)),
            Err(reason) => Ok(Err(PgError::ConnectionFailed(reason))),
        }
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> anyhow::Result<Result<RowSet, PgError>> {
        let params = match convert::to_sql_params(&params) {
            Ok(params) => params,
            Err(reason) => return Ok(Err(PgError::BadParameter(reason))),
        };
        let connection = self.table().get_mut(&connection)?;
        let rows = match connection
            .client
            .query(&statement, &param_refs(&params))
            .await
        {
            Ok(rows) => rows,
            Err(pool::QueryFailure::Start(e)) => return Ok(Err(query_failed(&e))),
            Err(pool::QueryFailure::Stream(e)) => {
                return Ok(Err(PgError::QueryFailed(QueryError::Text(format!(
                    "{e:?}"
                )))))
            }
        };
        if rows.is_empty() {
            match EmptyResult::configured() {
                EmptyResult::Empty => {}
                EmptyResult::Hang => std::future::pending::<()>().await,
                EmptyResult::Error => {
                    eprintln!(
                        "cp-host: component {}: a query matched no rows; Spin 4.0.0-4.0.2 would \
                         never answer it: {statement}",
                        self.component().id
                    );
                    return Ok(Err(PgError::QueryFailed(QueryError::Text(
                        EMPTY_RESULT_ERROR.to_string(),
                    ))));
                }
            }
        }
        Ok(convert::row_set(&rows).map_err(|e| query_failed(&e)))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> anyhow::Result<Result<u64, PgError>> {
        // Spin reports a parameter it cannot convert as `bad-parameter` from `query` but as
        // `value-conversion-failed` from `execute`.
        let params = match convert::to_sql_params(&params) {
            Ok(params) => params,
            Err(reason) => return Ok(Err(PgError::ValueConversionFailed(reason))),
        };
        let connection = self.table().get_mut(&connection)?;
        Ok(connection
            .client
            .execute(&statement, &param_refs(&params))
            .await
            .map_err(|e| query_failed(&e)))
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> anyhow::Result<()> {
        // Dropping the loan hands the connection back to its pool.
        self.table().delete(connection)?;
        Ok(())
    }
}

/// The text a query matching no rows fails with when [`EmptyResult::Error`] is in force.
pub(crate) const EMPTY_RESULT_ERROR: &str = "query matched no rows: Spin 4.0.0-4.0.2 never \
     answer such a query (spinframework/spin#3671), so cp-host refuses it; make every query \
     yield a row (cp-store wraps them), or set CP_HOST_PG_EMPTY_RESULT=empty";

/// What `query` does when the statement matches no rows (`CP_HOST_PG_EMPTY_RESULT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EmptyResult {
    /// `error` (the default): fail with [`EMPTY_RESULT_ERROR`], so a component that would
    /// hang under Spin 4.0.0–4.0.2 fails its tests here instead.
    Error,
    /// `hang`: never answer, exactly as Spin 4.0.0–4.0.2.
    Hang,
    /// `empty`: no columns and no rows, as Spin 3.x and the upstream fix answer.
    Empty,
}

impl EmptyResult {
    fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some("empty") => Self::Empty,
            Some("hang") => Self::Hang,
            _ => Self::Error,
        }
    }

    fn configured() -> Self {
        static MODE: std::sync::OnceLock<EmptyResult> = std::sync::OnceLock::new();
        *MODE.get_or_init(|| Self::parse(std::env::var("CP_HOST_PG_EMPTY_RESULT").ok().as_deref()))
    }
}

fn param_refs(params: &[convert::SqlParam]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Parses a connection string and checks every host it names against the allow list;
/// the error is the reason for a `connection-failed`.
fn check_address(allowed: &AllowedHosts, address: &str) -> Result<tokio_postgres::Config, String> {
    let config: tokio_postgres::Config = address
        .parse()
        .map_err(|e| format!("invalid connection string: {e}"))?;
    let ports = config.get_ports();
    // As libpq does: the port at the host's index, or the single port for every host.
    let port_for = |i: usize| match ports {
        [single] => Some(*single),
        _ => ports.get(i).copied(),
    };
    let check = |host: &str, port: Option<u16>| {
        if allowed.allows("postgres", host, port) {
            return Ok(());
        }
        let authority = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Err(format!(
            "address postgres://{authority} is not permitted by the component's allowed_outbound_hosts \
             (add \"postgres://{authority}\" to allowed_outbound_hosts to allow it)"
        ))
    };
    for (i, host) in config.get_hosts().iter().enumerate() {
        match host {
            tokio_postgres::config::Host::Tcp(name) => check(name, port_for(i))?,
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(_) => {
                return Err("Unix sockets are not supported on WebAssembly".to_string());
            }
        }
    }
    // `hostaddr` overrides the address `host` resolves to, so it must be allowed as well.
    for (i, addr) in config.get_hostaddrs().iter().enumerate() {
        check(&addr.to_string(), port_for(i))?;
    }
    Ok(config)
}

/// Maps a driver error: server errors keep their SQLSTATE and fields, others become text.
fn query_failed(e: &tokio_postgres::Error) -> PgError {
    let as_text = format!("{e:?}");
    PgError::QueryFailed(match e.as_db_error() {
        None => QueryError::Text(as_text),
        Some(db) => {
            let mut extras = Vec::new();
            let mut extra = |name: &str, value: Option<String>| {
                if let Some(value) = value {
                    extras.push((name.to_string(), value));
                }
            };
            extra("column", db.column().map(str::to_string));
            extra("constraint", db.constraint().map(str::to_string));
            extra("routine", db.routine().map(str::to_string));
            extra("hint", db.hint().map(str::to_string));
            extra("table", db.table().map(str::to_string));
            extra("datatype", db.datatype().map(str::to_string));
            extra("schema", db.schema().map(str::to_string));
            extra("file", db.file().map(str::to_string));
            extra("line", db.line().map(|l| l.to_string()));
            extra("where_", db.where_().map(str::to_string));
            QueryError::DbError(DbError {
                as_text,
                severity: db.severity().to_string(),
                code: db.code().code().to_string(),
                message: db.message().to_string(),
                detail: db.detail().map(str::to_string),
                extras,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries).unwrap()
    }

    fn denied(result: Result<tokio_postgres::Config, String>) -> String {
        result.expect_err("the address should have been denied")
    }

    #[test]
    fn empty_result_modes() {
        assert_eq!(EmptyResult::parse(None), EmptyResult::Error);
        assert_eq!(EmptyResult::parse(Some("error")), EmptyResult::Error);
        assert_eq!(EmptyResult::parse(Some("empty")), EmptyResult::Empty);
        assert_eq!(EmptyResult::parse(Some(" hang ")), EmptyResult::Hang);
        assert_eq!(EmptyResult::parse(Some("bogus")), EmptyResult::Error);
    }

    #[test]
    fn addresses_are_checked_against_allowed_hosts() {
        let hosts = allowed(&["postgres://127.0.0.1:55432", "postgres://db.internal"]);
        assert!(check_address(&hosts, "postgres://u@127.0.0.1:55432/app").is_ok());
        assert!(check_address(&hosts, "host=127.0.0.1 port=55432 user=u").is_ok());
        // No port means 5432 on both sides.
        assert!(check_address(&hosts, "postgres://db.internal/app").is_ok());

        let msg = denied(check_address(&hosts, "postgres://u@127.0.0.1:5432/app"));
        assert!(msg.contains("allowed_outbound_hosts"), "{msg}");
        assert!(msg.contains("postgres://127.0.0.1:5432"), "{msg}");
        denied(check_address(&hosts, "postgres://other.internal/app"));
        denied(check_address(&hosts, "host=db.internal hostaddr=10.0.0.1"));
        denied(check_address(
            &AllowedHosts::default(),
            "postgres://127.0.0.1:55432/app",
        ));
        denied(check_address(&hosts, "not a connection string ==="));
        denied(check_address(
            &allowed(&["*://*:*"]),
            "host=/var/run/postgresql",
        ));
    }
}
