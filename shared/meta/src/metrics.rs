//! `/prom`: gauges read from PostgreSQL at scrape time. A fresh component
//! instance serves each request, so nothing is counted in memory, and
//! nothing is written per request just to count it.

use cp_store::{Database, DbError};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What a scrape reads.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Snapshot {
    /// Tenants per phase.
    pub tenants_by_phase: Vec<(String, i64)>,
    /// Latest drift report per kind: (kind, missing, orphan, stale, checked unix seconds).
    pub drift: Vec<(String, i64, i64, i64, i64)>,
    /// Audit entries in the last hour per outcome.
    pub audit_last_hour: Vec<(String, i64)>,
    /// Planner estimate of all audit entries (exact counts are too slow at scale).
    pub audit_estimated_total: i64,
}

/// Reads the snapshot (four index-backed or catalog queries).
pub async fn read<D: Database>(db: &D) -> Result<Snapshot, DbError> {
    let mut s = Snapshot::default();
    for r in db
        .query(
            "SELECT phase, count(*)::int8 AS n FROM tenants GROUP BY phase ORDER BY phase",
            &[],
        )
        .await?
    {
        s.tenants_by_phase.push((r.text("phase")?, r.i64("n")?));
    }
    for r in db
        .query(
            "SELECT kind, missing_rows, orphan_rows, stale_rows,
                    extract(epoch FROM checked_at)::int8 AS checked
             FROM drift_reports ORDER BY kind",
            &[],
        )
        .await?
    {
        s.drift.push((
            r.text("kind")?,
            r.i64("missing_rows")?,
            r.i64("orphan_rows")?,
            r.i64("stale_rows")?,
            r.i64("checked")?,
        ));
    }
    for r in db
        .query(
            "SELECT outcome, count(*)::int8 AS n FROM audit_log
             WHERE at > now() - interval '1 hour' GROUP BY outcome ORDER BY outcome",
            &[],
        )
        .await?
    {
        s.audit_last_hour.push((r.text("outcome")?, r.i64("n")?));
    }
    let est = db
        .query_one(
            "SELECT greatest(reltuples, 0)::int8 AS n FROM pg_class WHERE oid = 'audit_log'::regclass",
            &[],
        )
        .await?;
    s.audit_estimated_total = est.i64("n")?;
    Ok(s)
}

type Labels = Vec<(String, String)>;

fn family(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
    let f = Family::<Labels, Gauge>::default();
    registry.register(name, help, f.clone());
    f
}

/// Renders the snapshot as OpenMetrics text.
pub fn render(s: &Snapshot) -> String {
    let mut registry = Registry::with_prefix("controlplane");
    let tenants = family(&mut registry, "tenants", "Tenants by lifecycle phase");
    for (phase, n) in &s.tenants_by_phase {
        tenants
            .get_or_create(&vec![("phase".into(), phase.clone())])
            .set(*n);
    }
    let drift = family(
        &mut registry,
        "projection_drift_rows",
        "Projection rows diverging from their CRDs at the last drift check",
    );
    let checked = family(
        &mut registry,
        "projection_drift_checked_timestamp_seconds",
        "Unix time of the last drift check",
    );
    for (kind, missing, orphan, stale, at) in &s.drift {
        for (t, n) in [("missing", missing), ("orphan", orphan), ("stale", stale)] {
            drift
                .get_or_create(&vec![
                    ("kind".into(), kind.clone()),
                    ("type".into(), t.into()),
                ])
                .set(*n);
        }
        checked
            .get_or_create(&vec![("kind".into(), kind.clone())])
            .set(*at);
    }
    let audit = family(
        &mut registry,
        "audit_entries_last_hour",
        "Audit entries written in the last hour",
    );
    for (outcome, n) in &s.audit_last_hour {
        audit
            .get_or_create(&vec![("outcome".into(), outcome.clone())])
            .set(*n);
    }
    let total = Gauge::<i64>::default();
    total.set(s.audit_estimated_total);
    registry.register(
        "audit_entries_estimated",
        "Planner estimate of all audit entries",
        total,
    );
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renders_every_gauge() {
        let text = render(&Snapshot {
            tenants_by_phase: vec![("Running".into(), 3), ("Suspended".into(), 1)],
            drift: vec![("tenants".into(), 1, 0, 2, 1_700_000_000)],
            audit_last_hour: vec![("success".into(), 7)],
            audit_estimated_total: 42,
        });
        for line in [
            "controlplane_tenants{phase=\"Running\"} 3",
            "controlplane_tenants{phase=\"Suspended\"} 1",
            "controlplane_projection_drift_rows{kind=\"tenants\",type=\"missing\"} 1",
            "controlplane_projection_drift_rows{kind=\"tenants\",type=\"stale\"} 2",
            "controlplane_projection_drift_checked_timestamp_seconds{kind=\"tenants\"} 1700000000",
            "controlplane_audit_entries_last_hour{outcome=\"success\"} 7",
            "controlplane_audit_entries_estimated 42",
            "# EOF",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
