//! Connection pools, one per connection string, of at most 64 connections each (as in Spin).
//!
//! A connection handed back is cleaned before reuse, in the background so the response is
//! not delayed: an open (or interrupted) transaction is rolled back, then session state is
//! reset the way Spin's pool resets it. Broken connections are dropped, and a new connection
//! must be established within a few seconds, so a database outage fails fast and a restarted
//! database is picked up again by the next `open`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row};

/// Connections per address, as in Spin.
const MAX_CONNECTIONS: usize = 64;
/// TCP connect timeout when the connection string sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Limit for connecting, including the startup and authentication exchange.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `open` waits for a busy pool to free a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Limit for cleaning a returned connection; a connection that takes longer is dropped.
const RESET_TIMEOUT: Duration = Duration::from_secs(5);

/// Clears session state left by the previous user, without discarding the driver's cached
/// type lookups (which `DISCARD ALL` would): the same statements Spin's pool runs.
const RESET_SESSION: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
     UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

/// All pools of the host, keyed by connection string.
#[derive(Default)]
pub(crate) struct Pools {
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

struct Pool {
    config: Config,
    idle: Mutex<Vec<Arc<Client>>>,
    permits: Arc<Semaphore>,
}

impl Pools {
    /// Takes an idle connection to `address`, or establishes a new one.
    pub(crate) async fn acquire(
        &self,
        address: &str,
        config: Config,
    ) -> Result<PooledClient, String> {
        let pool = self
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(address.to_string())
            .or_insert_with(|| Arc::new(Pool::new(config)))
            .clone();
        pool.acquire().await
    }
}

impl Pool {
    fn new(mut config: Config) -> Self {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Self {
            config,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        }
    }

    async fn acquire(self: &Arc<Self>) -> Result<PooledClient, String> {
        let permit = timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                format!(
                    "all {MAX_CONNECTIONS} pooled connections stayed busy for {ACQUIRE_TIMEOUT:?}"
                )
            })?
            .map_err(|_| "connection pool closed".to_string())?;
        let client = match self.take_idle() {
            Some(client) => client,
            None => Arc::new(self.connect().await?),
        };
        Ok(PooledClient {
            client,
            pool: self.clone(),
            permit: Some(permit),
            in_transaction: false,
            in_flight: false,
        })
    }

    fn take_idle(&self) -> Option<Arc<Client>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // A connection the server closed (restart, idle timeout) is simply dropped.
        while let Some(client) = idle.pop() {
            if !client.is_closed() {
                return Some(client);
            }
        }
        None
    }

    async fn connect(&self) -> Result<Client, String> {
        let (client, connection) = timeout(ESTABLISH_TIMEOUT, self.config.connect(NoTls))
            .await
            .map_err(|_| {
                format!("timed out after {ESTABLISH_TIMEOUT:?} connecting to the database")
            })?
            .map_err(|e| format!("cannot connect to the database: {}", error_chain(&e)))?;
        // The connection task ends when the client is dropped or the connection breaks.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    fn put_idle(&self, client: Arc<Client>) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(client);
    }
}

/// An error and its causes, e.g. `db error: FATAL: database "x" does not exist` where the
/// driver's own message is only `db error`.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A connection on loan from a pool; it goes back (cleaned) when dropped.
pub(crate) struct PooledClient {
    /// Shared only so that `drop` can hand it back; a loan is its sole user.
    client: Arc<Client>,
    pool: Arc<Pool>,
    /// Held until the connection is back in the pool or dropped, bounding the pool size.
    permit: Option<OwnedSemaphorePermit>,
    /// A transaction was begun by a statement run through this loan and not yet ended.
    in_transaction: bool,
    /// A statement was interrupted (its future dropped): the session state is unknown.
    in_flight: bool,
}

/// What a statement does to the session's transaction state.
#[derive(Debug, PartialEq, Eq)]
enum TransactionEffect {
    Begins,
    Ends,
    None,
}

fn transaction_effect(statement: &str) -> TransactionEffect {
    let mut words = statement
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase);
    match (words.next().as_deref(), words.next().as_deref()) {
        (Some("BEGIN"), _) | (Some("START"), Some("TRANSACTION")) => TransactionEffect::Begins,
        // `ROLLBACK TO [SAVEPOINT] x` stays in the transaction; `COMMIT/ROLLBACK PREPARED`
        // concern another, prepared transaction.
        (Some("ROLLBACK" | "ABORT"), Some("TO" | "PREPARED"))
        | (Some("COMMIT"), Some("PREPARED")) => TransactionEffect::None,
        (Some("COMMIT" | "END" | "ROLLBACK" | "ABORT"), _) => TransactionEffect::Ends,
        _ => TransactionEffect::None,
    }
}

impl PooledClient {
    /// Runs a query, tracking transaction state.
    pub(crate) async fn query(
        &mut self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.in_flight = true;
        let result = self.client.query(statement, params).await;
        self.settle(statement, result.is_ok());
        result
    }

    /// Runs a statement, tracking transaction state.
    pub(crate) async fn execute(
        &mut self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        self.in_flight = true;
        let result = self.client.execute(statement, params).await;
        self.settle(statement, result.is_ok());
        result
    }

    fn settle(&mut self, statement: &str, succeeded: bool) {
        self.in_flight = false;
        match transaction_effect(statement) {
            TransactionEffect::Begins if succeeded => self.in_transaction = true,
            TransactionEffect::Ends if succeeded => self.in_transaction = false,
            _ => {}
        }
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let client = self.client.clone();
        if client.is_closed() {
            return;
        }
        let rollback = self.in_transaction || self.in_flight;
        let pool = self.pool.clone();
        // Without a runtime (process shutdown) the connection is just closed.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let reset = async {
                    if rollback {
                        client.batch_execute("ROLLBACK").await?;
                    }
                    client.batch_execute(RESET_SESSION).await
                };
                if let Ok(Ok(())) = timeout(RESET_TIMEOUT, reset).await {
                    pool.put_idle(client);
                }
                drop(permit);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_statements_are_recognised() {
        use TransactionEffect::*;
        for (sql, effect) in [
            ("BEGIN", Begins),
            ("  begin isolation level serializable", Begins),
            ("BEGIN;", Begins),
            ("START TRANSACTION", Begins),
            ("start  transaction read only", Begins),
            ("COMMIT", Ends),
            ("commit;", Ends),
            ("END", Ends),
            ("ROLLBACK", Ends),
            ("abort", Ends),
            ("ROLLBACK TO SAVEPOINT a", None),
            ("rollback to a", None),
            ("COMMIT PREPARED 'x'", None),
            ("SAVEPOINT a", None),
            ("SELECT 1", None),
            ("INSERT INTO begin_log VALUES (1)", None),
            ("", None),
        ] {
            assert_eq!(transaction_effect(sql), effect, "{sql}");
        }
    }
}
