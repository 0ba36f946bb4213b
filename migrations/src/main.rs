//! `cp-migrate`: applies the control plane's SQL migrations.

use clap::Parser;

/// Apply pending SQL migrations (forward-only, idempotent).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// PostgreSQL URL of the control plane database.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Create this database first (connecting to `--database-url` as admin),
    /// then migrate it.
    #[arg(long)]
    create_database: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = match &args.create_database {
        Some(name) => {
            cp_migrate::ensure_database(&args.database_url, name).await?;
            with_database(&args.database_url, name)
        }
        None => args.database_url.clone(),
    };
    let mut client = cp_migrate::connect(&url).await?;
    let applied = cp_migrate::migrate(&mut client).await?;
    if applied.is_empty() {
        println!("cp-migrate: {} is up to date", cp_migrate::redact(&url));
    } else {
        println!("cp-migrate: applied {}", applied.join(", "));
    }
    Ok(())
}

/// Replaces the database path of a `postgres://` URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}
