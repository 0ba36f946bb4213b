//! Versioned, forward-only SQL migrations and the one command that applies
//! them. `make up`, the tests and a deployment (a Kubernetes Job before the
//! SpinApp rolls out, see `deploy/`) all run this; components never create
//! tables.
//!
//! Each file in `sql/` is applied once, in order, in its own transaction,
//! and recorded with its checksum in `schema_migrations`. Editing an applied
//! file is refused (the checksum differs): write a new migration instead.
//! A session-level advisory lock serialises concurrent runners.

#![deny(missing_docs)]

use anyhow::{bail, Context as _};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

/// The migrations, in order. `every_sql_file_is_listed` keeps this in sync
/// with the `sql/` folder.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_foundation",
        include_str!("../sql/0001_foundation.sql"),
    ),
    ("0002_tenants", include_str!("../sql/0002_tenants.sql")),
    ("0003_policies", include_str!("../sql/0003_policies.sql")),
    ("0004_catalog", include_str!("../sql/0004_catalog.sql")),
    ("0005_skills", include_str!("../sql/0005_skills.sql")),
    (
        "0006_access_tokens",
        include_str!("../sql/0006_access_tokens.sql"),
    ),
    ("0007_users", include_str!("../sql/0007_users.sql")),
    (
        "0008_organizations",
        include_str!("../sql/0008_organizations.sql"),
    ),
    (
        "0009_tenant_lifecycle",
        include_str!("../sql/0009_tenant_lifecycle.sql"),
    ),
    ("0010_mfa", include_str!("../sql/0010_mfa.sql")),
    ("0011_gateway", include_str!("../sql/0011_gateway.sql")),
    (
        "0012_gateway_fleet",
        include_str!("../sql/0012_gateway_fleet.sql"),
    ),
    (
        "0013_token_usage",
        include_str!("../sql/0013_token_usage.sql"),
    ),
    ("0014_oidc", include_str!("../sql/0014_oidc.sql")),
    (
        "0015_identity_hardening",
        include_str!("../sql/0015_identity_hardening.sql"),
    ),
    (
        "0016_tenant_owner",
        include_str!("../sql/0016_tenant_owner.sql"),
    ),
    (
        "0017_tenant_bindings",
        include_str!("../sql/0017_tenant_bindings.sql"),
    ),
    ("0018_vault", include_str!("../sql/0018_vault.sql")),
    (
        "0019_vault_cmek",
        include_str!("../sql/0019_vault_cmek.sql"),
    ),
    (
        "0020_vault_shares",
        include_str!("../sql/0020_vault_shares.sql"),
    ),
    (
        "0021_vault_master_key_id",
        include_str!("../sql/0021_vault_master_key_id.sql"),
    ),
    (
        "0022_vault_secret_count",
        include_str!("../sql/0022_vault_secret_count.sql"),
    ),
    (
        "0023_refresh_tokens",
        include_str!("../sql/0023_refresh_tokens.sql"),
    ),
    (
        "0024_email_verification",
        include_str!("../sql/0024_email_verification.sql"),
    ),
    ("0025_agents", include_str!("../sql/0025_agents.sql")),
    (
        "0026_agent_enrollments",
        include_str!("../sql/0026_agent_enrollments.sql"),
    ),
    ("0027_chains", include_str!("../sql/0027_chains.sql")),
];

/// Arbitrary constant identifying this project's migration lock.
const LOCK_ID: i64 = 0x6370_6d69_6772_6174;

/// Applies pending migrations; returns the versions applied now.
pub async fn migrate(client: &mut Client) -> anyhow::Result<Vec<String>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    text        PRIMARY KEY,
                 checksum   text        NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .context("creating schema_migrations")?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_ID])
        .await
        .context("taking the migration lock")?;
    let result = apply_pending(client).await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_ID])
        .await;
    let applied = result?;
    unlock.context("releasing the migration lock")?;
    Ok(applied)
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

async fn apply_pending(client: &mut Client) -> anyhow::Result<Vec<String>> {
    let mut applied_now = Vec::new();
    for (version, sql) in MIGRATIONS {
        let sum = checksum(sql);
        let row = client
            .query_opt(
                "SELECT checksum FROM schema_migrations WHERE version = $1",
                &[version],
            )
            .await?;
        if let Some(row) = row {
            let recorded: String = row.get(0);
            if recorded != sum {
                bail!("migration {version} was changed after it was applied (checksum {recorded} != {sum}); add a new migration instead");
            }
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("applying migration {version}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
            &[version, &sum],
        )
        .await?;
        tx.commit().await?;
        applied_now.push((*version).to_owned());
    }
    Ok(applied_now)
}

/// Creates database `name` on the server of `admin_url` if it is missing.
pub async fn ensure_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || name.is_empty() {
        bail!("refusing to create database with unusual name {name:?}");
    }
    let client = connect(admin_url).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        // Identifier checked above; CREATE DATABASE takes no parameters.
        match client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
        {
            Ok(()) => {}
            // Created concurrently by another runner: fine.
            Err(e) if e.code().map(|c| c.code()) == Some("42P04") => {}
            Err(e) => return Err(e).context("creating the database"),
        }
    }
    Ok(())
}

/// Connects and drives the connection in the background.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("database connection closed: {e}");
        }
    });
    Ok(client)
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_sql_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .map(|n| n.trim_end_matches(".sql").to_owned())
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        assert_eq!(files, listed);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
