//! The gateway group's named queries. Parameters follow the `cp-store`
//! conventions (text, int8, bool, bytea; casts in SQL): ids and money travel
//! as text (`numeric` is cast both ways, so amounts are exact), times are
//! read as microseconds.

// -------------------------------------------------------------- provider keys

pub(crate) const PROVIDER_KEYS: &str = concat!(
    "SELECT provider, key_hint, ",
    cp_store::epoch_micros!("updated_at"),
    " AS updated_micros FROM provider_keys"
);
/// Sets or replaces a key; `replaced` says which.
pub(crate) const PROVIDER_KEY_UPSERT: &str = concat!(
    "INSERT INTO provider_keys AS k (provider, ciphertext, nonce, key_hint)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (provider) DO UPDATE SET ciphertext = EXCLUDED.ciphertext,
        nonce = EXCLUDED.nonce, key_hint = EXCLUDED.key_hint, updated_at = now()
    RETURNING provider, key_hint, (xmax::text <> '0') AS replaced, ",
    cp_store::epoch_micros!("k.updated_at"),
    " AS updated_micros"
);
pub(crate) const PROVIDER_KEY_DELETE: &str =
    "DELETE FROM provider_keys WHERE provider = $1 RETURNING provider";

// --------------------------------------------------------------------- models

macro_rules! model_columns {
    () => {
        concat!(
            "id::text AS id, name, provider, upstream_model, context_window, ",
            "input_price_per_million::text AS input_price, ",
            "output_price_per_million::text AS output_price, ",
            "cached_input_price_per_million::text AS cached_input_price, ",
            "cache_enabled, cache_ttl_seconds, cache_max_entries, version, ",
            cp_store::epoch_micros!("created_at"),
            " AS created_micros, ",
            cp_store::epoch_micros!("updated_at"),
            " AS updated_micros"
        )
    };
}

pub(crate) const MODEL_GET: &str = concat!(
    "SELECT ",
    model_columns!(),
    " FROM models WHERE id = $1::text::uuid"
);
/// Locks the model until the transaction ends.
pub(crate) const MODEL_GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    model_columns!(),
    " FROM models WHERE id = $1::text::uuid FOR UPDATE"
);
pub(crate) const MODEL_LIST_FIRST: &str = concat!(
    "SELECT ",
    model_columns!(),
    " FROM models ORDER BY created_at, id LIMIT $1"
);
pub(crate) const MODEL_LIST_AFTER: &str = concat!(
    "SELECT ",
    model_columns!(),
    " FROM models WHERE (created_at, id) > ",
    "(",
    cp_store::micros_timestamptz!("$2"),
    ", $3::text::uuid)",
    " ORDER BY created_at, id LIMIT $1"
);
pub(crate) const MODEL_INSERT: &str = concat!(
    "INSERT INTO models (id, name, provider, upstream_model, context_window,
        input_price_per_million, output_price_per_million, cached_input_price_per_million,
        cache_enabled, cache_ttl_seconds, cache_max_entries)
    VALUES ($1::text::uuid, $2, $3, $4, $5, $6::text::numeric, $7::text::numeric,
        $8::text::numeric, $9, $10, $11)
    RETURNING ",
    model_columns!()
);
pub(crate) const MODEL_UPDATE: &str = concat!(
    "UPDATE models SET name = $2, provider = $3, upstream_model = $4, context_window = $5,
        input_price_per_million = $6::text::numeric, output_price_per_million = $7::text::numeric,
        cached_input_price_per_million = $8::text::numeric,
        version = version + 1, updated_at = now()
    WHERE id = $1::text::uuid RETURNING ",
    model_columns!()
);
pub(crate) const MODEL_CACHE_UPDATE: &str = concat!(
    "UPDATE models SET cache_enabled = $2, cache_ttl_seconds = $3, cache_max_entries = $4,
        version = version + 1, updated_at = now()
    WHERE id = $1::text::uuid RETURNING ",
    model_columns!()
);
pub(crate) const MODEL_DELETE: &str = "DELETE FROM models WHERE id = $1::text::uuid RETURNING name";

// ----------------------------------------------------------------- AI budget

pub(crate) const GLOBAL_GET: &str = concat!(
    "SELECT monthly_ceiling::text AS monthly_ceiling, version, ",
    cp_store::epoch_micros!("updated_at"),
    " AS updated_micros FROM ai_budget_global WHERE id"
);
/// Locks the global row (creating it first if need be) for a write.
pub(crate) const GLOBAL_ENSURE: &str =
    "INSERT INTO ai_budget_global (id, version) VALUES (true, 0) ON CONFLICT (id) DO NOTHING";
pub(crate) const GLOBAL_GET_FOR_UPDATE: &str = concat!(
    "SELECT monthly_ceiling::text AS monthly_ceiling, version, ",
    cp_store::epoch_micros!("updated_at"),
    " AS updated_micros FROM ai_budget_global WHERE id FOR UPDATE"
);
pub(crate) const GLOBAL_UPDATE: &str = concat!(
    "UPDATE ai_budget_global SET monthly_ceiling = $1::text::numeric,
        version = version + 1, updated_at = now()
    WHERE id RETURNING monthly_ceiling::text AS monthly_ceiling, version, ",
    cp_store::epoch_micros!("updated_at"),
    " AS updated_micros"
);

macro_rules! account_columns {
    () => {
        concat!(
            "a.user_id::text AS id, a.version, u.email, ",
            "a.monthly_ceiling::text AS monthly_ceiling, ",
            cp_store::epoch_micros!("a.created_at"),
            " AS created_micros, ",
            cp_store::epoch_micros!("a.updated_at"),
            " AS updated_micros"
        )
    };
}

pub(crate) const ACCOUNT_LIST_FIRST: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM ai_budget_accounts a JOIN users u ON u.id = a.user_id
    ORDER BY a.created_at, a.user_id LIMIT $1"
);
pub(crate) const ACCOUNT_LIST_AFTER: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM ai_budget_accounts a JOIN users u ON u.id = a.user_id
    WHERE (a.created_at, a.user_id) >
        (",
    cp_store::micros_timestamptz!("$2"),
    ", $3::text::uuid)
    ORDER BY a.created_at, a.user_id LIMIT $1"
);
/// The user, locked so it cannot be deleted before the ceiling is written.
pub(crate) const USER_FOR_SHARE: &str =
    "SELECT email FROM users WHERE id = $1::text::uuid FOR SHARE";
/// Sets or replaces a ceiling; `created` says which.
pub(crate) const ACCOUNT_UPSERT: &str = concat!(
    "WITH a AS (
        INSERT INTO ai_budget_accounts AS b (user_id, monthly_ceiling)
        VALUES ($1::text::uuid, $2::text::numeric)
        ON CONFLICT (user_id) DO UPDATE SET monthly_ceiling = EXCLUDED.monthly_ceiling,
            version = b.version + 1, updated_at = now()
        RETURNING *, (xmax::text = '0') AS created
    )
    SELECT ",
    account_columns!(),
    ", a.created FROM a JOIN users u ON u.id = a.user_id"
);
pub(crate) const ACCOUNT_DELETE: &str =
    "DELETE FROM ai_budget_accounts WHERE user_id = $1::text::uuid
    RETURNING monthly_ceiling::text AS monthly_ceiling";
