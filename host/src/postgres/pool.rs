//! Connection pools, one per connection string, of at most 64 connections each: Spin's
//! pool (deadpool-postgres with `RecyclingMethod::Clean`), mirrored.
//!
//! A connection handed back goes straight back to the pool, as it is: no rollback and no
//! reset. The next `open` that takes it first checks that it is not closed, then runs the
//! `Clean` statements (below); if they fail (for example inside a transaction that an error
//! aborted) the connection is dropped and the next idle one, or a new one, is tried. An
//! open, healthy transaction therefore survives into the next request, exactly as under
//! Spin; components end it themselves (cp-store's `SESSION_START`).
//!
//! Unlike Spin, establishing or cleaning a connection is bounded by a few seconds, so a
//! database outage fails fast and a restarted database is picked up by the next `open`.

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
/// Limit for cleaning an idle connection before reuse; one that takes longer is dropped.
const RESET_TIMEOUT: Duration = Duration::from_secs(5);

/// deadpool-postgres's `RecyclingMethod::Clean`, run (as one simple query) on an idle
/// connection before it is lent again: `DISCARD ALL` without `DEALLOCATE ALL` and
/// `DISCARD PLAN`. None of it ends a transaction.
pub(crate) const RESET_SESSION: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
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
    /// Takes an idle connection to `address` (cleaned), or establishes a new one.
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
        let client = loop {
            let Some(client) = self.take_idle() else {
                break Arc::new(self.connect().await?);
            };
            // Recycling as deadpool does it: a closed connection, or one the clean-up
            // statements fail on, is dropped and the next one is tried.
            if client.is_closed() {
                continue;
            }
            if let Ok(Ok(())) = timeout(RESET_TIMEOUT, client.batch_execute(RESET_SESSION)).await {
                break client;
            }
        };
        Ok(PooledClient {
            client,
            pool: self.clone(),
            _permit: permit,
        })
    }

    fn take_idle(&self) -> Option<Arc<Client>> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
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

/// Why a query failed: before any row could stream back (parse, plan, bind), or while
/// rows were streaming (execution errors, a lost connection).
pub(crate) enum QueryFailure {
    Start(tokio_postgres::Error),
    Stream(tokio_postgres::Error),
}

/// A connection on loan from a pool; it goes back, untouched, when dropped.
pub(crate) struct PooledClient {
    /// Shared only so that `drop` can hand it back; a loan is its sole user.
    client: Arc<Client>,
    pool: Arc<Pool>,
    /// Held while on loan, bounding the connections of the pool.
    _permit: OwnedSemaphorePermit,
}

impl PooledClient {
    /// Runs a query, telling errors before the first row from errors while streaming.
    pub(crate) async fn query(
        &self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, QueryFailure> {
        let stream = self
            .client
            .query_raw(statement, params.iter().copied())
            .await
            .map_err(QueryFailure::Start)?;
        futures_util::TryStreamExt::try_collect(stream)
            .await
            .map_err(QueryFailure::Stream)
    }

    /// Runs a statement.
    pub(crate) async fn execute(
        &self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        self.client.execute(statement, params).await
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if !self.client.is_closed() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(self.client.clone());
        }
    }
}
