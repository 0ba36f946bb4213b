//! Catalog operations on PostgreSQL. Every mutation runs in one transaction
//! with its audit entry, so a failure (validation against the database, a
//! duplicate name, a lost connection) leaves nothing half written.

use std::collections::HashMap;

use cp_crypto::MasterKey;
use cp_http::pagination::PageRequest;
use cp_http::{time, ApiError, ApiRequest, PaginationInfo};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, FromRow, Row, Value};
use serde_json::json;
use uuid::Uuid;

use crate::model::{
    value_hint, AwarenessGrant, Credential, Grant, Group, McpServer, Member, SecretRef, SourceItem,
    ThirdPartySource, ValidCredential, ValidGroup, ValidMcpServer, ValidSource,
};
use crate::sql;
use cp_platform::resource::{delete_audited, keyset_page, views, KeysetList, TieBreak, Versioned};

/// Cursor scope of `GET /mcp-servers`.
pub(crate) const SERVERS_SCOPE: &str = "mcp-servers";
/// Cursor scope of `GET /mcp-servers/{id}/credentials`.
pub(crate) const CREDENTIALS_SCOPE: &str = "mcp-server-credentials";
/// Cursor scope of `GET /groups`.
pub(crate) const GROUPS_SCOPE: &str = "groups";
/// Cursor scope of `GET /third-party-sources`.
pub(crate) const SOURCES_SCOPE: &str = "third-party-sources";

/// Maps a unique violation of the resource's name to a 409 naming it.
fn duplicate<'a>(what: &'static str, name: &'a str) -> impl Fn(DbError) -> Failure + 'a {
    move |err| match err {
        DbError::UniqueViolation { .. } => Failure::with_cause(
            ApiError::Conflict(format!("{what} named '{name}' already exists")),
            err.to_string(),
        ),
        other => other.into(),
    }
}

fn ids_json<T>(rows: &[Versioned<T>]) -> Value {
    Value::Json(json!(rows
        .iter()
        .map(|r| r.id.as_str())
        .collect::<Vec<_>>()))
}

// ---------------------------------------------------------------- MCP servers

/// A server without its grants and credentials (see [`attach_server_children`]).
impl FromRow for McpServer {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            id: r.text("id")?,
            name: r.text("name")?,
            endpoint: r.text("endpoint")?,
            transport: r.text("transport")?,
            description: r.opt_text("description")?,
            grants: Vec::new(),
            credentials: Vec::new(),
            created_at: time::micros_rfc3339(r.i64("created_micros")?),
            updated_at: time::micros_rfc3339(r.i64("updated_micros")?),
        })
    }
}

impl FromRow for Credential {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        let secret_ref = match r.json("secret_ref")? {
            serde_json::Value::Null => None,
            v => Some(
                serde_json::from_value::<SecretRef>(v)
                    .map_err(|e| DbError::Decode(format!("secret_ref: {e}")))?,
            ),
        };
        Ok(Credential {
            id: r.text("id")?,
            display_name: r.text("display_name")?,
            brokering_mode: r.text("brokering_mode")?,
            secret_ref,
            has_value: r.bool("has_value")?,
            value_hint: r.opt_text("value_hint")?,
            created_at: time::micros_rfc3339(r.i64("created_micros")?),
        })
    }
}

/// Fills in the grants and credentials of `servers` (two queries in all).
async fn attach_server_children<D: Database>(
    db: &D,
    servers: &mut [Versioned<McpServer>],
) -> Result<(), Failure> {
    if servers.is_empty() {
        return Ok(());
    }
    let ids = ids_json(servers);
    let index: HashMap<String, usize> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), i))
        .collect();
    for r in db.query(sql::GRANTS_OF, std::slice::from_ref(&ids)).await? {
        if let Some(&i) = index.get(&r.text("owner")?) {
            servers[i].view.grants.push(Grant {
                kind: r.text("subject_kind")?,
                name: r.text("subject_name")?,
            });
        }
    }
    for r in db.query(sql::CREDENTIALS_OF, &[ids]).await? {
        if let Some(&i) = index.get(&r.text("owner")?) {
            servers[i].view.credentials.push(Credential::from_row(&r)?);
        }
    }
    Ok(())
}

pub(crate) async fn list_servers<D: Database>(
    db: &D,
    page: &PageRequest,
) -> Result<(Vec<McpServer>, PaginationInfo), Failure> {
    let list = KeysetList {
        scope: SERVERS_SCOPE,
        first: sql::SERVER_LIST_FIRST,
        after: sql::SERVER_LIST_AFTER,
        tie: TieBreak::Id,
    };
    let (mut rows, info) = keyset_page(db, page, list, None).await?;
    attach_server_children(db, &mut rows).await?;
    Ok((views(rows), info))
}

async fn find_server<D: Database>(
    db: &D,
    sql: &str,
    id: Uuid,
) -> Result<Versioned<McpServer>, Failure> {
    db.fetch_opt(sql, &[id.to_string().into()])
        .await?
        .ok_or_else(|| ApiError::not_found("MCP_SERVER", id.to_string()).into())
}

pub(crate) async fn get_server<D: Database>(
    db: &D,
    id: Uuid,
) -> Result<Versioned<McpServer>, Failure> {
    let mut s = vec![find_server(db, sql::SERVER_GET, id).await?];
    attach_server_children(db, &mut s).await?;
    Ok(s.remove(0))
}

/// The master key, or a 503 naming the missing configuration (never a value).
fn master_key<P: Platform>(ctx: &RequestContext<'_, P>) -> Result<MasterKey, Failure> {
    cp_platform::config::require_secrets_key(
        ctx.platform,
        "inline credential values cannot be stored (use secretRef instead)",
    )
}

/// What binds a sealed value to its row: a ciphertext moved to another
/// credential or server does not open.
fn credential_aad(server_id: &str, credential_id: &str) -> Vec<u8> {
    format!("cp/mcp-server-credential/v1/{server_id}/{credential_id}").into_bytes()
}

/// Loads the master key only when some credential carries an inline value,
/// so secretRef and obo credentials work without one.
fn key_for<P: Platform>(
    ctx: &RequestContext<'_, P>,
    creds: &[ValidCredential],
) -> Result<Option<MasterKey>, Failure> {
    if creds.iter().any(|c| c.value.is_some()) {
        master_key(ctx).map(Some)
    } else {
        Ok(None)
    }
}

async fn insert_credential<D: Database>(
    db: &D,
    key: Option<&MasterKey>,
    server_id: &str,
    c: &ValidCredential,
) -> Result<String, Failure> {
    let id = cp_http::ids::new_id().to_string();
    let (ciphertext, nonce, hint) = match (&c.value, key) {
        (Some(value), Some(key)) => {
            let sealed = key
                .seal(value.as_bytes(), &credential_aad(server_id, &id))
                .map_err(|e| Failure::with_cause(ApiError::Internal, e.to_string()))?;
            (
                Value::Bytes(sealed.ciphertext),
                Value::Bytes(sealed.nonce),
                value_hint(value).into(),
            )
        }
        (Some(_), None) => {
            return Err(Failure::with_cause(
                ApiError::Internal,
                "a credential value reached storage without a key",
            ))
        }
        (None, _) => (Value::Null, Value::Null, Value::Null),
    };
    let secret_ref = match &c.secret_ref {
        Some(r) => Value::Json(json!({ "name": r.name, "key": r.key })),
        None => Value::Null,
    };
    db.execute(
        sql::CREDENTIAL_INSERT,
        &[
            id.clone().into(),
            server_id.into(),
            c.display_name.as_str().into(),
            c.brokering_mode.as_str().into(),
            secret_ref,
            ciphertext,
            nonce,
            hint,
        ],
    )
    .await?;
    Ok(id)
}

/// Non-secret audit details of credentials.
fn credentials_detail(creds: &[ValidCredential]) -> serde_json::Value {
    json!(creds
        .iter()
        .map(|c| json!({
            "displayName": c.display_name,
            "brokeringMode": c.brokering_mode,
            "secretRef": c.secret_ref.as_ref().map(|r| json!({"name": r.name, "key": r.key})),
            "inlineValue": c.value.is_some(),
        }))
        .collect::<Vec<_>>())
}

/// Every tenant member must be a live tenant (a 400 naming
/// `members[i].name`); the membership is bound to its id.
async fn check_members<D: Database>(db: &D, members: &[Member]) -> Result<(), Failure> {
    let tenants: Vec<(String, &str)> = members
        .iter()
        .enumerate()
        .filter(|(_, m)| m.kind == "tenant")
        .map(|(i, m)| (format!("members[{i}].name"), m.name.as_str()))
        .collect();
    let errors = cp_platform::tenant_refs::check(db, &tenants).await?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors).into())
    }
}

async fn write_server_children<D: Database>(
    db: &D,
    key: Option<&MasterKey>,
    id: &str,
    input: &ValidMcpServer,
) -> Result<(), Failure> {
    let subjects: Vec<(&str, &str)> = input
        .grants
        .iter()
        .map(|g| (g.kind.as_str(), g.name.as_str()))
        .collect();
    crate::subjects::check(db, "grants", &subjects).await?;
    if !input.grants.is_empty() {
        db.execute(
            sql::GRANTS_INSERT,
            &[id.into(), Value::Json(json!(input.grants))],
        )
        .await?;
    }
    for c in &input.credentials {
        insert_credential(db, key, id, c).await?;
    }
    Ok(())
}

fn server_detail(input: &ValidMcpServer) -> serde_json::Value {
    json!({
        "name": input.name,
        "transport": input.transport,
        "grants": input.grants,
        "credentials": credentials_detail(&input.credentials),
    })
}

pub(crate) async fn create_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    input: ValidMcpServer,
) -> Result<Versioned<McpServer>, Failure> {
    let key = key_for(ctx, &input.credentials)?;
    let id = cp_http::ids::new_id();
    let sid = id.to_string();
    transaction(ctx.db(), async |db| {
        db.execute(
            sql::SERVER_INSERT,
            &[
                sid.as_str().into(),
                input.name.as_str().into(),
                input.endpoint.as_str().into(),
                input.transport.as_str().into(),
                input.description.clone().into(),
            ],
        )
        .await
        .map_err(duplicate("an MCP server", &input.name))?;
        write_server_children(db, key.as_ref(), &sid, &input).await?;
        ctx.audit("mcp_server", &sid)
            .detail(server_detail(&input))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    get_server(ctx.db(), id).await
}

pub(crate) async fn replace_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
    input: ValidMcpServer,
) -> Result<Versioned<McpServer>, Failure> {
    let key = key_for(ctx, &input.credentials)?;
    let sid = id.to_string();
    transaction(ctx.db(), async |db| {
        let current = find_server(db, sql::SERVER_GET_FOR_UPDATE, id).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        db.execute(
            sql::SERVER_UPDATE,
            &[
                sid.as_str().into(),
                input.name.as_str().into(),
                input.endpoint.as_str().into(),
                input.transport.as_str().into(),
                input.description.clone().into(),
            ],
        )
        .await
        .map_err(duplicate("an MCP server", &input.name))?;
        // Full replacement: grants and credentials are exactly the body's.
        db.execute(sql::GRANTS_CLEAR, &[sid.as_str().into()])
            .await?;
        db.execute(sql::CREDENTIALS_CLEAR, &[sid.as_str().into()])
            .await?;
        write_server_children(db, key.as_ref(), &sid, &input).await?;
        let mut detail = server_detail(&input);
        detail["previousName"] = json!(current.view.name);
        ctx.audit("mcp_server", &sid)
            .detail(detail)
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    get_server(ctx.db(), id).await
}

pub(crate) async fn delete_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<(), Failure> {
    let sid = id.to_string();
    transaction(ctx.db(), async |db| {
        // Grants and credentials go with it (ON DELETE CASCADE).
        let row = db
            .query_opt(sql::SERVER_DELETE, &[sid.as_str().into()])
            .await?
            .ok_or_else(|| ApiError::not_found("MCP_SERVER", &sid))?;
        ctx.audit("mcp_server", &sid)
            .detail(json!({ "name": row.text("name")? }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await
}

pub(crate) async fn list_credentials<D: Database>(
    db: &D,
    id: Uuid,
    page: &PageRequest,
) -> Result<(Vec<Credential>, PaginationInfo), Failure> {
    find_server(db, sql::SERVER_GET, id).await?;
    let list = KeysetList {
        scope: CREDENTIALS_SCOPE,
        first: sql::CREDENTIALS_FIRST,
        after: sql::CREDENTIALS_AFTER,
        tie: TieBreak::Id,
    };
    let (rows, info) = keyset_page(db, page, list, Some(id.to_string().into())).await?;
    Ok((views(rows), info))
}

pub(crate) async fn create_credential<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
    input: ValidCredential,
) -> Result<Credential, Failure> {
    let key = key_for(ctx, std::slice::from_ref(&input))?;
    let sid = id.to_string();
    let cid = transaction(ctx.db(), async |db| {
        find_server(db, sql::SERVER_GET_FOR_UPDATE, id).await?;
        let cid = insert_credential(db, key.as_ref(), &sid, &input).await?;
        db.execute(sql::SERVER_TOUCH, &[sid.as_str().into()])
            .await?;
        let mut detail = credentials_detail(std::slice::from_ref(&input))[0].clone();
        detail["serverId"] = json!(sid);
        ctx.audit("mcp_server_credential", &cid)
            .detail(detail)
            .write(db)
            .await?;
        Ok::<_, Failure>(cid)
    })
    .await?;
    get_server(ctx.db(), id)
        .await?
        .view
        .credentials
        .into_iter()
        .find(|c| c.id == cid)
        .ok_or_else(|| ApiError::not_found("CREDENTIAL", cid).into())
}

pub(crate) async fn delete_credential<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
    credential: Uuid,
) -> Result<(), Failure> {
    let sid = id.to_string();
    let cid = credential.to_string();
    transaction(ctx.db(), async |db| {
        find_server(db, sql::SERVER_GET_FOR_UPDATE, id).await?;
        let row = db
            .query_opt(
                sql::CREDENTIAL_DELETE,
                &[cid.as_str().into(), sid.as_str().into()],
            )
            .await?
            .ok_or_else(|| ApiError::not_found("CREDENTIAL", &cid))?;
        db.execute(sql::SERVER_TOUCH, &[sid.as_str().into()])
            .await?;
        ctx.audit("mcp_server_credential", &cid)
            .detail(json!({
                "serverId": sid,
                "displayName": row.text("display_name")?,
                "brokeringMode": row.text("brokering_mode")?,
            }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await
}

// --------------------------------------------------------------------- groups

/// A group without its members and awareness grants (see [`attach_awareness`]).
impl FromRow for Group {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            id: r.text("id")?,
            name: r.text("name")?,
            description: r.opt_text("description")?,
            member_count: r.i64("member_count")?,
            members: None,
            awareness_grants: Vec::new(),
            created_at: time::micros_rfc3339(r.i64("created_micros")?),
            updated_at: time::micros_rfc3339(r.i64("updated_micros")?),
        })
    }
}

async fn attach_awareness<D: Database>(
    db: &D,
    groups: &mut [Versioned<Group>],
) -> Result<(), Failure> {
    if groups.is_empty() {
        return Ok(());
    }
    let index: HashMap<String, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.id.clone(), i))
        .collect();
    for r in db.query(sql::AWARENESS_OF, &[ids_json(groups)]).await? {
        if let Some(&i) = index.get(&r.text("owner")?) {
            groups[i].view.awareness_grants.push(AwarenessGrant {
                scope: r.text("scope")?,
                access: r.text("access")?,
            });
        }
    }
    Ok(())
}

pub(crate) async fn list_groups<D: Database>(
    db: &D,
    page: &PageRequest,
) -> Result<(Vec<Group>, PaginationInfo), Failure> {
    let list = KeysetList {
        scope: GROUPS_SCOPE,
        first: sql::GROUP_LIST_FIRST,
        after: sql::GROUP_LIST_AFTER,
        tie: TieBreak::Id,
    };
    let (mut rows, info) = keyset_page(db, page, list, None).await?;
    attach_awareness(db, &mut rows).await?;
    Ok((views(rows), info))
}

async fn find_group<D: Database>(db: &D, sql: &str, id: Uuid) -> Result<Versioned<Group>, Failure> {
    db.fetch_opt(sql, &[id.to_string().into()])
        .await?
        .ok_or_else(|| ApiError::not_found("GROUP", id.to_string()).into())
}

pub(crate) async fn get_group<D: Database>(db: &D, id: Uuid) -> Result<Versioned<Group>, Failure> {
    let mut g = vec![find_group(db, sql::GROUP_GET, id).await?];
    attach_awareness(db, &mut g).await?;
    let mut g = g.remove(0);
    let members = db
        .query(sql::MEMBERS_OF, &[id.to_string().into()])
        .await?
        .iter()
        .map(|r| {
            Ok(Member {
                kind: r.text("member_kind")?,
                name: r.text("member_name")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    g.view.members = Some(members);
    Ok(g)
}

async fn write_group_children<D: Database>(
    db: &D,
    id: &str,
    input: &ValidGroup,
) -> Result<(), Failure> {
    check_members(db, &input.members).await?;
    if !input.members.is_empty() {
        db.execute(
            sql::MEMBERS_INSERT,
            &[id.into(), Value::Json(json!(input.members))],
        )
        .await?;
    }
    if !input.awareness_grants.is_empty() {
        db.execute(
            sql::AWARENESS_INSERT,
            &[id.into(), Value::Json(json!(input.awareness_grants))],
        )
        .await?;
    }
    Ok(())
}

fn group_detail(input: &ValidGroup) -> serde_json::Value {
    json!({
        "name": input.name,
        "members": input.members.len(),
        "awarenessGrants": input.awareness_grants,
    })
}

pub(crate) async fn create_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    input: ValidGroup,
) -> Result<Versioned<Group>, Failure> {
    let id = cp_http::ids::new_id();
    let gid = id.to_string();
    transaction(ctx.db(), async |db| {
        db.execute(
            sql::GROUP_INSERT,
            &[
                gid.as_str().into(),
                input.name.as_str().into(),
                input.description.clone().into(),
            ],
        )
        .await
        .map_err(duplicate("a group", &input.name))?;
        write_group_children(db, &gid, &input).await?;
        ctx.audit("group", &gid)
            .detail(group_detail(&input))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    get_group(ctx.db(), id).await
}

/// Replaces a group's description, members and awareness grants; `validate`
/// checks the body against the current name (which is immutable).
pub(crate) async fn replace_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
    validate: impl FnOnce(&str) -> Result<ValidGroup, ApiError>,
) -> Result<Versioned<Group>, Failure> {
    let gid = id.to_string();
    transaction(ctx.db(), async |db| {
        let current = find_group(db, sql::GROUP_GET_FOR_UPDATE, id).await?;
        let input = validate(&current.view.name)?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        db.execute(
            sql::GROUP_UPDATE,
            &[gid.as_str().into(), input.description.clone().into()],
        )
        .await?;
        db.execute(sql::MEMBERS_CLEAR, &[gid.as_str().into()])
            .await?;
        db.execute(sql::AWARENESS_CLEAR, &[gid.as_str().into()])
            .await?;
        write_group_children(db, &gid, &input).await?;
        ctx.audit("group", &gid)
            .detail(group_detail(&input))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    get_group(ctx.db(), id).await
}

pub(crate) async fn delete_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<(), Failure> {
    let gid = id.to_string();
    transaction(ctx.db(), async |db| {
        // Members and awareness grants cascade; the catalog grants naming
        // the group go in the same transaction, so a group created later
        // under the same name starts with nothing. (Access policies naming
        // it are CRDs: they keep the name, visible in their subjects.)
        let row = db
            .query_opt(sql::GROUP_DELETE, &[gid.as_str().into()])
            .await?
            .ok_or_else(|| ApiError::not_found("GROUP", &gid))?;
        let name = row.text("name")?;
        let revoked = db
            .query_one(sql::GROUP_GRANTS_REVOKE, &[name.as_str().into()])
            .await?;
        ctx.audit("group", &gid)
            .detail(json!({
                "name": name,
                "revokedMcpGrants": revoked.i64("mcp_grants")?,
                "revokedSkillEntitlements": revoked.i64("skill_entitlements")?,
            }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await
}

// -------------------------------------------------------- third-party sources

/// A source without its items.
impl FromRow for ThirdPartySource {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            id: r.text("id")?,
            name: r.text("name")?,
            kind: r.text("type")?,
            url: r.text("url")?,
            description: r.opt_text("description")?,
            item_count: r.i64("item_count")?,
            items: None,
            created_at: time::micros_rfc3339(r.i64("created_micros")?),
            updated_at: time::micros_rfc3339(r.i64("updated_micros")?),
        })
    }
}

pub(crate) async fn list_sources<D: Database>(
    db: &D,
    page: &PageRequest,
) -> Result<(Vec<ThirdPartySource>, PaginationInfo), Failure> {
    let list = KeysetList {
        scope: SOURCES_SCOPE,
        first: sql::SOURCE_LIST_FIRST,
        after: sql::SOURCE_LIST_AFTER,
        tie: TieBreak::Id,
    };
    let (rows, info) = keyset_page(db, page, list, None).await?;
    Ok((views(rows), info))
}

async fn find_source<D: Database>(
    db: &D,
    sql: &str,
    id: Uuid,
) -> Result<Versioned<ThirdPartySource>, Failure> {
    db.fetch_opt(sql, &[id.to_string().into()])
        .await?
        .ok_or_else(|| ApiError::not_found("THIRD_PARTY_SOURCE", id.to_string()).into())
}

pub(crate) async fn get_source<D: Database>(
    db: &D,
    id: Uuid,
) -> Result<Versioned<ThirdPartySource>, Failure> {
    let mut s = find_source(db, sql::SOURCE_GET, id).await?;
    let items = db
        .query(sql::ITEMS_OF, &[id.to_string().into()])
        .await?
        .iter()
        .map(|r| {
            Ok(SourceItem {
                external_id: r.text("external_id")?,
                title: r.text("title")?,
                url: r.opt_text("url")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    s.view.items = Some(items);
    Ok(s)
}

async fn write_items<D: Database>(db: &D, id: &str, input: &ValidSource) -> Result<(), Failure> {
    if !input.items.is_empty() {
        db.execute(
            sql::ITEMS_INSERT,
            &[id.into(), Value::Json(json!(input.items))],
        )
        .await?;
    }
    Ok(())
}

fn source_detail(input: &ValidSource) -> serde_json::Value {
    json!({
        "name": input.name,
        "type": input.kind,
        "url": input.url,
        "items": input.items.len(),
    })
}

fn source_params(id: &str, input: &ValidSource) -> Vec<Value> {
    vec![
        id.into(),
        input.name.as_str().into(),
        input.kind.as_str().into(),
        input.url.as_str().into(),
        input.description.clone().into(),
    ]
}

pub(crate) async fn create_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    input: ValidSource,
) -> Result<Versioned<ThirdPartySource>, Failure> {
    let id = cp_http::ids::new_id();
    let sid = id.to_string();
    transaction(ctx.db(), async |db| {
        db.execute(sql::SOURCE_INSERT, &source_params(&sid, &input))
            .await
            .map_err(duplicate("a third-party source", &input.name))?;
        write_items(db, &sid, &input).await?;
        ctx.audit("third_party_source", &sid)
            .detail(source_detail(&input))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    get_source(ctx.db(), id).await
}

pub(crate) async fn replace_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
    input: ValidSource,
) -> Result<Versioned<ThirdPartySource>, Failure> {
    let sid = id.to_string();
    transaction(ctx.db(), async |db| {
        let current = find_source(db, sql::SOURCE_GET_FOR_UPDATE, id).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        db.execute(sql::SOURCE_UPDATE, &source_params(&sid, &input))
            .await
            .map_err(duplicate("a third-party source", &input.name))?;
        db.execute(sql::ITEMS_CLEAR, &[sid.as_str().into()]).await?;
        write_items(db, &sid, &input).await?;
        ctx.audit("third_party_source", &sid)
            .detail(source_detail(&input))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    get_source(ctx.db(), id).await
}

pub(crate) async fn delete_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<(), Failure> {
    // Items cascade.
    let detail = |row: &Row| Ok(json!({ "name": row.text("name")? }));
    let sid = id.to_string();
    delete_audited(
        ctx,
        sql::SOURCE_DELETE,
        "THIRD_PARTY_SOURCE",
        "third_party_source",
        &sid,
        detail,
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_values_are_bound_to_their_row() {
        let key = MasterKey::from_bytes(&[3; 32]).unwrap();
        let sealed = key.seal(b"v", &credential_aad("s1", "c1")).unwrap();
        assert!(key.open(&sealed, &credential_aad("s1", "c1")).is_ok());
        assert!(key.open(&sealed, &credential_aad("s1", "c2")).is_err());
        assert!(key.open(&sealed, &credential_aad("s2", "c1")).is_err());
    }
}
