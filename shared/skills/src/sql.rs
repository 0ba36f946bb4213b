//! The skills catalog's named queries. Parameters follow the `cp-store`
//! conventions (text, int8, bytea, jsonb; casts in SQL); times are read as
//! microseconds. Sets of ids travel as one jsonb array.

/// Columns of a bundle row, as [`BundleRow`](crate::model::BundleRow) (its `FromRow`) reads them.
pub(crate) const SELECT_COLUMNS: &str = concat!(
    "id::text AS id, name, version, digest, scope, stage,
    description, octet_length(content)::int8 AS content_size, revision, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros, ",
    cp_store::epoch_micros!("updated_at"),
    " AS updated_micros"
);

/// One bundle by id ($1).
pub(crate) fn get() -> String {
    format!("SELECT {SELECT_COLUMNS} FROM skill_bundles WHERE id = $1::text::uuid")
}

/// One bundle by id ($1), locked until the transaction ends: writes to one
/// bundle are serialised, so stage checks see the latest stage.
pub(crate) fn get_for_update() -> String {
    format!("SELECT {SELECT_COLUMNS} FROM skill_bundles WHERE id = $1::text::uuid FOR UPDATE")
}

/// A bundle's content ($1 id).
pub(crate) const CONTENT: &str = "SELECT content FROM skill_bundles WHERE id = $1::text::uuid";

/// First page ($1 limit), keyset order on `skill_bundles_keyset`.
pub(crate) fn list_first() -> String {
    format!("SELECT {SELECT_COLUMNS} FROM skill_bundles ORDER BY created_at, id LIMIT $1")
}

/// Next page after ($2 micros, $3 id).
pub(crate) fn list_after() -> String {
    format!(
        "SELECT {SELECT_COLUMNS} FROM skill_bundles
         WHERE (created_at, id) > ({p2_time}, $3::text::uuid)
         ORDER BY created_at, id LIMIT $1",
        p2_time = cp_store::micros_timestamptz!("$2")
    )
}

/// First page of one name's versions ($1 limit, $2 name), on `skill_bundles_name_keyset`.
pub(crate) fn list_name_first() -> String {
    format!(
        "SELECT {SELECT_COLUMNS} FROM skill_bundles WHERE name = $2
         ORDER BY created_at, id LIMIT $1"
    )
}

/// Next page of one name's versions ($1 limit, $2 name, after $3 micros, $4 id).
pub(crate) fn list_name_after() -> String {
    format!(
        "SELECT {SELECT_COLUMNS} FROM skill_bundles
         WHERE name = $2
           AND (created_at, id) > ({p3_time}, $4::text::uuid)
         ORDER BY created_at, id LIMIT $1",
        p3_time = cp_store::micros_timestamptz!("$3")
    )
}

/// Inserts a bundle ($1 id .. $8 content).
pub(crate) const INSERT: &str = "INSERT INTO skill_bundles
    (id, name, version, digest, scope, stage, description, content)
    VALUES ($1::text::uuid, $2, $3, $4, $5, $6, $7, $8::bytea)";

/// Name of the (name, version) unique constraint.
pub(crate) const NAME_VERSION_CONSTRAINT: &str = "skill_bundles_name_version";

/// Replaces the editable fields ($1 id, $2 digest, $3 scope, $4 stage,
/// $5 description, $6 content) and bumps the revision (the ETag).
pub(crate) const UPDATE: &str = "UPDATE skill_bundles SET digest = $2, scope = $3, stage = $4,
    description = $5, content = $6::bytea, revision = revision + 1, updated_at = now()
    WHERE id = $1::text::uuid";

/// Deletes a bundle ($1 id); entitlements, promotions and push records cascade.
pub(crate) const DELETE: &str = "DELETE FROM skill_bundles WHERE id = $1::text::uuid
    RETURNING name, version";

/// Removes a bundle's entitlements ($1 id) before the new set is inserted.
pub(crate) const ENTITLEMENTS_CLEAR: &str =
    "DELETE FROM skill_entitlements WHERE bundle_id = $1::text::uuid";

/// Inserts a bundle's entitlements ($1 id, $2 jsonb `[{kind, name}]`); a
/// tenant entitlement is bound to the live tenant's id (checked first).
pub(crate) const ENTITLEMENTS_INSERT: &str = concat!(
    "INSERT INTO skill_entitlements (bundle_id, subject_kind, subject_name, tenant_id)
    SELECT $1::text::uuid, e->>'kind', e->>'name', ",
    cp_platform::tenant_id_of_element!(),
    " FROM jsonb_array_elements($2::jsonb) AS e"
);

/// Entitlements of several bundles ($1 jsonb array of ids).
pub(crate) const ENTITLEMENTS_OF: &str =
    "SELECT bundle_id::text AS bundle_id, subject_kind, subject_name FROM skill_entitlements
    WHERE bundle_id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)
    ORDER BY bundle_id, subject_kind, subject_name";

/// Whether a bundle ($1 id) was ever published (a row, or none).
pub(crate) const EVER_PUBLISHED: &str = "SELECT 1 AS one FROM skill_promotions
    WHERE bundle_id = $1::text::uuid AND to_stage = 'published' LIMIT 1";

/// Promotion history of several bundles ($1 jsonb array of ids), oldest first.
pub(crate) const PROMOTIONS_OF: &str = concat!(
    "SELECT bundle_id::text AS bundle_id, from_stage, to_stage,
    actor, request_id, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros
    FROM skill_promotions
    WHERE bundle_id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)
    ORDER BY created_at, id"
);

/// Records a stage change ($1 id, $2 bundle, $3 from, $4 to, $5 actor, $6 request id).
pub(crate) const PROMOTION_INSERT: &str = "INSERT INTO skill_promotions
    (id, bundle_id, from_stage, to_stage, actor, request_id)
    VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5, $6)";

/// The newest 100 versions of a name ($1), shown oldest first.
pub(crate) const VERSIONS: &str = "SELECT id, version, stage FROM (
      SELECT id::text AS id, version, stage, created_at, id AS uid FROM skill_bundles
      WHERE name = $1 ORDER BY created_at DESC, id DESC LIMIT 100) v
    ORDER BY created_at, uid";

/// Every published bundle, without content (the backfill loads it one at a time).
pub(crate) const PUBLISHED: &str = "SELECT id::text AS id, name, version, digest
    FROM skill_bundles WHERE stage = 'published' ORDER BY created_at, id";

/// Records a push ($1 bundle, $2 registry, $3 repository, $4 tag,
/// $5 manifest digest, $6 outcome, $7 request id); skipped if the bundle
/// was deleted meanwhile.
pub(crate) const PUSH_RECORD: &str = "INSERT INTO skill_oci_pushes
    (bundle_id, registry, repository, tag, manifest_digest, outcome, request_id)
    SELECT $1::text::uuid, $2, $3, $4, $5, $6, $7
    WHERE EXISTS (SELECT 1 FROM skill_bundles WHERE id = $1::text::uuid)
    ON CONFLICT (bundle_id, registry, repository, tag) DO UPDATE SET
      manifest_digest = EXCLUDED.manifest_digest, outcome = EXCLUDED.outcome,
      request_id = EXCLUDED.request_id, pushed_at = now()";
