//! Transactions over one session: `BEGIN`, the work, `COMMIT`, and
//! `ROLLBACK` on any error, so a failed write leaves no half state.

use crate::{Database, DbError};

/// Runs `work` inside a transaction on `db`. The closure's error type must
/// absorb database errors so `BEGIN`/`COMMIT` failures surface as it.
pub async fn transaction<D, T, E, F>(db: &D, work: F) -> Result<T, E>
where
    D: Database,
    E: From<DbError>,
    F: AsyncFnOnce(&D) -> Result<T, E>,
{
    db.execute("BEGIN", &[]).await?;
    match work(db).await {
        Ok(value) => match db.execute("COMMIT", &[]).await {
            Ok(_) => Ok(value),
            Err(err) => {
                // A failed COMMIT has already ended the transaction; the
                // rollback only guards against a half-open session.
                let _ = db.execute("ROLLBACK", &[]).await;
                Err(err.into())
            }
        },
        Err(err) => {
            let _ = db.execute("ROLLBACK", &[]).await;
            Err(err)
        }
    }
}
