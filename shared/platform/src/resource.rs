//! What most route groups' resources share: the row version their ETags
//! come from, keyset lists ordered by `(created_at, id)`, and deletion by id
//! with its audit entry in one transaction.

use cp_http::pagination::PageRequest;
use cp_http::ApiError;
use cp_http::PaginationInfo;
use cp_store::{transaction, Database, DbError, FromRow, Row, Value};
use serde_json::json;

use crate::{Failure, Platform, RequestContext};

/// A resource with what its ETag and keyset cursor are made of.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    /// The resource as the API shows it.
    pub view: T,
    /// Its row version (bumped by every change).
    pub version: i64,
    /// Its creation time, Unix microseconds (first cursor key).
    pub created_micros: i64,
    /// Its id (second cursor key).
    pub id: String,
}

impl<T> Versioned<T> {
    /// Its ETag.
    pub fn etag(&self) -> String {
        cp_http::etag::for_version(&self.version.to_string())
    }
}

/// A versioned resource row: the view's own columns plus `version`,
/// `created_micros` and `id`.
impl<T: FromRow> FromRow for Versioned<T> {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        Ok(Self {
            view: T::from_row(row)?,
            version: row.i64("version")?,
            created_micros: row.i64("created_micros")?,
            id: row.text("id")?,
        })
    }
}

/// The cursor key of a resource: `[created_micros, id]`.
pub fn cursor_key<T>(v: &Versioned<T>) -> Vec<serde_json::Value> {
    vec![json!(v.created_micros), json!(v.id)]
}

/// What breaks ties between rows created in the same microsecond: the
/// second key of a `(created_at, …)` keyset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieBreak {
    /// The row's UUID id (a cursor holding anything else is a 400).
    Id,
    /// The row's unique name.
    Name,
}

/// A `(created_at, id or name)` keyset list: its cursor scope and its two
/// queries. The `first` page's parameters are `$1` the limit, then the
/// list's filter; the page `after` a cursor's are `$1` the limit, `$2` the
/// creation time in microseconds, `$3` the tie-breaker, then the filter.
#[derive(Debug, Clone, Copy)]
pub struct KeysetList<'a> {
    /// The cursor scope (a cursor of another list is a 400).
    pub scope: &'a str,
    /// The first page's query.
    pub first: &'a str,
    /// The query of the page after a cursor.
    pub after: &'a str,
    /// The keyset's second key.
    pub tie: TieBreak,
}

/// The rows of one page of `list`, `filter` being its one parameter after
/// the keyset's (if any). A forged cursor is a 400
/// ([`cp_http::pagination::Cursor::micros_at`]).
pub async fn keyset_rows<D: Database>(
    db: &D,
    page: &PageRequest,
    list: KeysetList<'_>,
    filter: Option<Value>,
) -> Result<Vec<Row>, Failure> {
    let mut params = vec![Value::Int(page.fetch_limit())];
    let sql = match &page.after {
        None => list.first,
        Some(c) => {
            params.push(Value::Int(c.micros_at(0)?));
            params.push(match list.tie {
                TieBreak::Id => c.id_at(1)?.into(),
                TieBreak::Name => c.str_at(1)?.into(),
            });
            list.after
        }
    };
    params.extend(filter);
    Ok(db.query(sql, &params).await?)
}

/// One page of a keyset list: rows fetched ([`keyset_rows`]), decoded,
/// trimmed to the limit, with the next cursor made by `key` from the last
/// item (`[created micros, tie-breaker]`).
pub async fn keyset_list<D: Database, T: FromRow>(
    db: &D,
    page: &PageRequest,
    list: KeysetList<'_>,
    filter: Option<Value>,
    key: impl Fn(&T) -> Vec<serde_json::Value>,
) -> Result<(Vec<T>, PaginationInfo), Failure> {
    let rows = keyset_rows(db, page, list, filter).await?;
    let items = rows
        .iter()
        .map(T::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page.paginate(list.scope, items, key))
}

/// [`keyset_list`] of versioned resources, keyed by creation time and id.
pub async fn keyset_page<D: Database, T: FromRow>(
    db: &D,
    page: &PageRequest,
    list: KeysetList<'_>,
    filter: Option<Value>,
) -> Result<(Vec<Versioned<T>>, PaginationInfo), Failure> {
    keyset_list(db, page, list, filter, cursor_key).await
}

/// The views of versioned resources.
pub fn views<T>(rows: Vec<Versioned<T>>) -> Vec<T> {
    rows.into_iter().map(|r| r.view).collect()
}

/// Deletes one resource: `sql` is a `DELETE ... WHERE id = $1 RETURNING
/// ...`; the audit entry (`audit_kind`, detail made from the deleted row)
/// is written in the same transaction. Nothing deleted is a 404
/// `<not_found_kind>_NOT_FOUND`.
pub async fn delete_audited<P: Platform>(
    ctx: &RequestContext<'_, P>,
    sql: &str,
    not_found_kind: &'static str,
    audit_kind: &str,
    id: &str,
    detail: impl Fn(&Row) -> Result<serde_json::Value, DbError>,
) -> Result<(), Failure> {
    transaction(ctx.db(), async |db| {
        let row = db
            .query_opt(sql, &[id.into()])
            .await?
            .ok_or_else(|| ApiError::not_found(not_found_kind, id))?;
        ctx.audit(audit_kind, id)
            .detail(detail(&row)?)
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await
}
