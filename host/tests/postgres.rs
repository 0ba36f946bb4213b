//! `spin:postgres@4.0.0` through the probe component against a real PostgreSQL
//! (`DATABASE_URL`): every parameter and value type, errors, allow-listing and pooling.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{database_url, Running, TestApp, TestComponent};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

const TEST_DATABASE: &str = "cp_host_tests";

/// The test database's URL, creating the database on first use.
async fn test_database_url() -> String {
    let admin = database_url();
    let client = native_client(&admin).await;
    if let Err(e) = client
        .batch_execute(&format!("CREATE DATABASE {TEST_DATABASE}"))
        .await
    {
        // Another test (or an earlier run) created it: duplicate_database, or the
        // unique_violation a concurrent CREATE DATABASE reports.
        let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
        assert!(
            code == "42P04" || code == "23505",
            "cannot create the test database: {e}"
        );
    }
    let (base, query) = admin.split_once('?').unwrap_or((admin.as_str(), ""));
    let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        "" => format!("{base}/{TEST_DATABASE}"),
        q => format!("{base}/{TEST_DATABASE}?{q}"),
    }
}

/// `host:port` of the test server.
fn server_addr(config: &tokio_postgres::Config) -> String {
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("DATABASE_URL must use TCP, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// `postgres://host:port` of the test server, for allowed_outbound_hosts.
fn server_origin(url: &str) -> String {
    format!("postgres://{}", server_addr(&url.parse().unwrap()))
}

async fn native_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// An app whose `db` component may reach `db_url`, and whose `locked` component may not.
async fn pg_app(db_url: &str) -> Running {
    TestApp::default()
        .app_variable("db_url", &format!("{{ default = {db_url:?} }}"))
        .component(
            TestComponent::new("db", &["/db/..."])
                .allow(&server_origin(db_url))
                .variable("db_url", "{{ db_url }}"),
        )
        .component(
            TestComponent::new("locked", &["/locked/..."]).variable("db_url", "{{ db_url }}"),
        )
        .start()
        .await
}

async fn run_steps(app: &Running, prefix: &str, steps: Value) -> Value {
    let reply = app
        .post(
            &format!("{prefix}?op=pg"),
            &json!({ "steps": steps }).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn query(sql: &str, params: Value) -> Value {
    json!({ "kind": "query", "sql": sql, "params": params })
}

fn execute(sql: &str, params: Value) -> Value {
    json!({ "kind": "execute", "sql": sql, "params": params })
}

/// One `SELECT $1::type` case: the parameter, the column type and the value the guest sees.
struct Case {
    sql: &'static str,
    param: Value,
    data_type: &'static str,
    value: String,
}

fn case(sql: &'static str, param: Value, data_type: &'static str, value: &str) -> Case {
    Case {
        sql,
        param,
        data_type,
        value: value.to_string(),
    }
}

fn round_trip_cases() -> Vec<Case> {
    let range = |lower: Value, upper: Value| json!({ "lower": lower, "upper": upper });
    vec![
        case("SELECT $1::bool AS v", json!({"t": "boolean", "v": true}), "Boolean", "Boolean(true)"),
        // Spin binds int8 to the one-byte "char" type, which has no case of its own.
        case("SELECT $1::\"char\" AS v", json!({"t": "int8", "v": 65}), "Other(\"char\")", "Unsupported([65])"),
        case("SELECT $1::int2 AS v", json!({"t": "int16", "v": -12345}), "Int16", "Int16(-12345)"),
        case("SELECT $1::int4 AS v", json!({"t": "int32", "v": 2147483647}), "Int32", "Int32(2147483647)"),
        case("SELECT $1::int8 AS v", json!({"t": "int64", "v": -9007199254740993i64}), "Int64", "Int64(-9007199254740993)"),
        case("SELECT $1::float4 AS v", json!({"t": "floating32", "v": 1.5}), "Floating32", "Floating32(1.5)"),
        case("SELECT $1::float8 AS v", json!({"t": "floating64", "v": -2.25}), "Floating64", "Floating64(-2.25)"),
        case("SELECT $1::text AS v", json!({"t": "str", "v": "héllo ✓"}), "Str", "Str(\"héllo ✓\")"),
        case("SELECT $1::varchar AS v", json!({"t": "str", "v": "v"}), "Str", "Str(\"v\")"),
        case("SELECT $1::char(3) AS v", json!({"t": "str", "v": "ab"}), "Str", "Str(\"ab \")"),
        case("SELECT $1::bytea AS v", json!({"t": "binary", "v": [0, 1, 255]}), "Binary", "Binary([0, 1, 255])"),
        case("SELECT $1::date AS v", json!({"t": "date", "v": [2024, 2, 29]}), "Date", "Date((2024, 2, 29))"),
        case("SELECT $1::time AS v", json!({"t": "time", "v": [13, 14, 15, 123456000]}), "Time", "Time((13, 14, 15, 123456000))"),
        case(
            "SELECT $1::timestamp AS v",
            json!({"t": "datetime", "v": [2024, 2, 29, 13, 14, 15, 123456000]}),
            "Datetime",
            "Datetime((2024, 2, 29, 13, 14, 15, 123456000))",
        ),
        // `timestamp` binds to TIMESTAMPTZ; reading one back needs a TIMESTAMP (see below).
        case(
            "SELECT $1::timestamptz AT TIME ZONE 'UTC' AS v",
            json!({"t": "timestamp", "v": 1700000000}),
            "Datetime",
            "Datetime((2023, 11, 14, 22, 13, 20, 0))",
        ),
        case(
            "SELECT $1::uuid AS v",
            json!({"t": "uuid", "v": "67e55044-10b1-426f-9247-bb680e5fe0c8"}),
            "Uuid",
            "Uuid(\"67e55044-10b1-426f-9247-bb680e5fe0c8\")",
        ),
        case(
            "SELECT $1::jsonb AS v",
            json!({"t": "jsonb", "v": "{\"b\": [1, 2], \"a\": null}"}),
            "Jsonb",
            &format!("Jsonb({:?})", br#"{"a":null,"b":[1,2]}"#.to_vec()),
        ),
        case(
            "SELECT $1::numeric AS v",
            json!({"t": "decimal", "v": "-12345678901234567890.0012300"}),
            "Decimal",
            "Decimal(\"-12345678901234567890.0012300\")",
        ),
        case("SELECT $1::numeric AS v", json!({"t": "decimal", "v": "0.00005"}), "Decimal", "Decimal(\"0.00005\")"),
        case(
            "SELECT $1::int4range AS v",
            json!({"t": "range-int32", "v": range(json!([1, "inclusive"]), json!([5, "inclusive"]))}),
            "RangeInt32",
            "RangeInt32((Some((1, RangeBoundKind::Inclusive)), Some((6, RangeBoundKind::Exclusive))))",
        ),
        case(
            "SELECT $1::int8range AS v",
            json!({"t": "range-int64", "v": range(Value::Null, json!([10, "exclusive"]))}),
            "RangeInt64",
            "RangeInt64((None, Some((10, RangeBoundKind::Exclusive))))",
        ),
        case(
            "SELECT $1::numrange AS v",
            json!({"t": "range-decimal", "v": range(json!(["1.5", "inclusive"]), json!(["2.25", "exclusive"]))}),
            "RangeDecimal",
            "RangeDecimal((Some((\"1.5\", RangeBoundKind::Inclusive)), Some((\"2.25\", RangeBoundKind::Exclusive))))",
        ),
        case(
            "SELECT $1::int4[] AS v",
            json!({"t": "array-int32", "v": [1, null, 3]}),
            "ArrayInt32",
            "ArrayInt32([Some(1), None, Some(3)])",
        ),
        case(
            "SELECT $1::int8[] AS v",
            json!({"t": "array-int64", "v": [5000000000i64]}),
            "ArrayInt64",
            "ArrayInt64([Some(5000000000)])",
        ),
        case(
            "SELECT $1::numeric[] AS v",
            json!({"t": "array-decimal", "v": ["1.10", null]}),
            "ArrayDecimal",
            "ArrayDecimal([Some(\"1.10\"), None])",
        ),
        case(
            "SELECT $1::text[] AS v",
            json!({"t": "array-str", "v": ["a", null, "c"]}),
            "ArrayStr",
            "ArrayStr([Some(\"a\"), None, Some(\"c\")])",
        ),
        case(
            "SELECT $1::varchar[] AS v",
            json!({"t": "array-str", "v": ["x"]}),
            "ArrayStr",
            "ArrayStr([Some(\"x\")])",
        ),
        case(
            "SELECT $1::interval AS v",
            json!({"t": "interval", "v": {"micros": 3723000004i64, "days": 5, "months": 14}}),
            "Interval",
            "Interval(Interval { micros: 3723000004, days: 5, months: 14 })",
        ),
        case("SELECT $1::int4 AS v", json!({"t": "null"}), "Int32", "DbNull"),
        case("SELECT $1::text AS v", json!({"t": "null"}), "Str", "DbNull"),
        // Types without a case arrive as `other` with their raw binary value.
        case("SELECT '{\"x\":1}'::json AS v", Value::Null, "Other(\"json\")", &format!("Unsupported({:?})", br#"{"x":1}"#.to_vec())),
        case("SELECT 7::oid AS v", Value::Null, "Other(\"oid\")", "Unsupported([0, 0, 0, 7])"),
    ]
}

#[tokio::test]
async fn every_type_round_trips_through_the_component() {
    let db_url = test_database_url().await;
    let app = pg_app(&db_url).await;
    let cases = round_trip_cases();
    let steps: Vec<Value> = cases
        .iter()
        .map(|c| {
            let params = if c.param.is_null() {
                json!([])
            } else {
                json!([c.param])
            };
            query(c.sql, params)
        })
        .collect();
    let reply = run_steps(&app, "/db", json!(steps)).await;
    let results = reply["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"));
    assert_eq!(results.len(), cases.len(), "{reply}");
    for (c, result) in cases.iter().zip(results) {
        assert_eq!(result["columns"][0]["name"], "v", "{}: {result}", c.sql);
        assert_eq!(
            result["columns"][0]["type"],
            format!("DbDataType::{}", c.data_type),
            "{}: {result}",
            c.sql
        );
        assert_eq!(
            result["rows"][0][0],
            format!("DbValue::{}", c.value),
            "{}: {result}",
            c.sql
        );
    }
}

#[tokio::test]
async fn rows_columns_and_affected_counts() {
    let db_url = test_database_url().await;
    let app = pg_app(&db_url).await;
    let table = format!("probe_rows_{}", std::process::id());
    let reply = run_steps(
        &app,
        "/db",
        json!([
            execute(&format!("CREATE TABLE {table} (id int4 PRIMARY KEY, name text)"), json!([])),
            execute(
                &format!("INSERT INTO {table} VALUES ($1, $2), ($3, $4)"),
                json!([{"t": "int32", "v": 1}, {"t": "str", "v": "a"}, {"t": "int32", "v": 2}, {"t": "null"}]),
            ),
            query(&format!("SELECT id, name FROM {table} ORDER BY id"), json!([])),
            query(&format!("SELECT id FROM {table} WHERE false"), json!([])),
            execute(&format!("DROP TABLE {table}"), json!([])),
        ]),
    )
    .await;
    let r = &reply["results"];
    assert_eq!(r[1]["rows_affected"], 2, "{reply}");
    assert_eq!(
        r[2]["columns"],
        json!([{"name": "id", "type": "DbDataType::Int32"}, {"name": "name", "type": "DbDataType::Str"}])
    );
    assert_eq!(
        r[2]["rows"],
        json!([
            ["DbValue::Int32(1)", "DbValue::Str(\"a\")"],
            ["DbValue::Int32(2)", "DbValue::DbNull"]
        ])
    );
    // Spin 4.0.0-4.0.2 never answer a query matching no rows; the host refuses it instead.
    assert_eq!(r[3]["error"]["kind"], "query-failed", "{reply}");
    assert!(
        r[3]["error"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("spinframework/spin#3671")),
        "{reply}"
    );
}

#[tokio::test]
async fn errors_map_to_spin_cases_and_sqlstate_codes() {
    let db_url = test_database_url().await;
    let app = pg_app(&db_url).await;
    let table = format!("probe_unique_{}", std::process::id());
    let reply = run_steps(
        &app,
        "/db",
        json!([
            execute(
                &format!("CREATE TABLE {table} (email text UNIQUE)"),
                json!([])
            ),
            execute(
                &format!("INSERT INTO {table} VALUES ('a@example.com')"),
                json!([])
            ),
            execute(
                &format!("INSERT INTO {table} VALUES ('a@example.com')"),
                json!([])
            ),
            query("SELEC 1", json!([])),
            query("SELECT $1::uuid", json!([{"t": "uuid", "v": "not-a-uuid"}])),
            query("SELECT $1::text", json!([{"t": "int32", "v": 1}])),
            // Spin reads TIMESTAMPTZ columns as naive date-times, which the driver refuses.
            query("SELECT now() AS v", json!([])),
            execute(&format!("DROP TABLE {table}"), json!([])),
            execute("SELECT $1::uuid", json!([{"t": "uuid", "v": "not-a-uuid"}])),
        ]),
    )
    .await;
    let r = &reply["results"];
    assert_eq!(r[2]["error"]["kind"], "query-failed", "{reply}");
    assert_eq!(r[2]["error"]["code"], "23505");
    let debug = r[2]["error"]["debug"].as_str().unwrap();
    assert!(
        debug.contains("severity: \"ERROR\"") && debug.contains(&format!("{table}_email_key")),
        "{debug}"
    );
    assert_eq!(r[3]["error"]["code"], "42601");
    assert_eq!(r[4]["error"]["kind"], "bad-parameter");
    // The same parameter through execute is, in Spin, a value conversion failure.
    assert_eq!(r[8]["error"]["kind"], "value-conversion-failed", "{reply}");
    assert_eq!(r[5]["error"]["kind"], "query-failed");
    assert_eq!(r[5]["error"]["code"], Value::Null);
    assert_eq!(r[6]["error"]["kind"], "query-failed");
    assert!(
        r[6]["error"]["debug"]
            .as_str()
            .unwrap()
            .contains("Timestamptz"),
        "{}",
        r[6]
    );
}

#[tokio::test]
async fn open_is_denied_without_allowed_outbound_hosts() {
    let db_url = test_database_url().await;
    let app = pg_app(&db_url).await;
    let reply = run_steps(&app, "/locked", json!([query("SELECT 1", json!([]))])).await;
    assert_eq!(reply["open_error"]["kind"], "connection-failed", "{reply}");
    assert!(
        reply["open_error"]["debug"]
            .as_str()
            .unwrap()
            .contains("allowed_outbound_hosts"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_failed_open_says_why() {
    let db_url = test_database_url().await;
    let missing = db_url.replacen(TEST_DATABASE, "cp_host_no_such_database", 1);
    let app = pg_app(&missing).await;
    let reply = run_steps(&app, "/db", json!([query("SELECT 1", json!([]))])).await;
    assert_eq!(reply["open_error"]["kind"], "connection-failed", "{reply}");
    let debug = reply["open_error"]["debug"].as_str().unwrap();
    assert!(
        debug.contains("cp_host_no_such_database") && debug.contains("does not exist"),
        "{debug}"
    );
}

/// `pg_app` whose sessions carry the `application_name` `cp_host_<tag>_<pid>` (returned),
/// so a test can find its pooled sessions.
async fn tagged_app(db_url: &str, tag: &str) -> (Running, String) {
    let app_name = format!("cp_host_{tag}_{}", std::process::id());
    let sep = if db_url.contains('?') { '&' } else { '?' };
    let app = pg_app(&format!("{db_url}{sep}application_name={app_name}")).await;
    (app, app_name)
}

/// A scratch table `probe_<tag>_<pid> (v text)`, made through a native client that the test
/// keeps for its checks and for `drop_table`.
async fn scratch_table(db_url: &str, tag: &str) -> (tokio_postgres::Client, String) {
    let table = format!("probe_{tag}_{}", std::process::id());
    let admin = native_client(db_url).await;
    admin
        .batch_execute(&format!("CREATE TABLE {table} (v text)"))
        .await
        .unwrap();
    (admin, table)
}

async fn drop_table(admin: &tokio_postgres::Client, table: &str) {
    admin
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

/// The step that tells which pooled connection a request got.
fn backend_pid_query() -> Value {
    query("SELECT pg_backend_pid()::text AS pid", json!([]))
}

/// The backend of the connection a new request gets.
async fn backend_pid(app: &Running) -> String {
    let reply = run_steps(app, "/db", json!([backend_pid_query()])).await;
    pid_of(&reply["results"][0])
}

/// Runs steps ending in a trap: the component fails mid-session, as a panicking handler does.
async fn run_steps_then_trap(app: &Running, steps: Value) {
    let mut steps = steps.as_array().unwrap().clone();
    steps.push(json!({ "kind": "trap" }));
    let reply = app
        .post("/db?op=pg", &json!({ "steps": steps }).to_string())
        .await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    // The trapped instance's connection goes back to the pool when its store is dropped.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn pid_of(result: &Value) -> String {
    result["rows"][0][0].as_str().unwrap().to_string()
}

async fn table_values(admin: &tokio_postgres::Client, table: &str) -> Vec<String> {
    admin
        .query(&format!("SELECT v FROM {table} ORDER BY v"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn a_trapped_transaction_stays_open_on_its_pooled_connection_as_in_spin() {
    let db_url = test_database_url().await;
    let (app, app_name) = tagged_app(&db_url, "stale").await;
    let (admin, table) = scratch_table(&db_url, "stale").await;

    let pid_a = backend_pid(&app).await;
    // Session settings, then a transaction the component never ends: it traps.
    run_steps_then_trap(
        &app,
        json!([
            execute("SET work_mem = '1234kB'", json!([])),
            execute("BEGIN", json!([])),
            execute(
                &format!("INSERT INTO {table} VALUES ('left open')"),
                json!([])
            ),
        ]),
    )
    .await;
    // Spin's pool takes the connection back as it is: idle in a transaction.
    assert_eq!(
        session_states(&admin, &app_name).await,
        vec!["idle in transaction".to_string()]
    );

    // The next request gets that connection, cleaned the way deadpool's `Clean` cleans
    // (settings reset) but still inside the stale transaction: it sees the uncommitted row.
    let reply = run_steps(
        &app,
        "/db",
        json!([
            backend_pid_query(),
            query("SELECT current_setting('work_mem') AS v", json!([])),
            query(
                &format!("SELECT count(*)::int4 AS n FROM {table}"),
                json!([])
            ),
            query(
                "SELECT (txid_current_if_assigned() IS NOT NULL) AS in_tx",
                json!([])
            ),
        ]),
    )
    .await;
    let r = &reply["results"];
    let default_work_mem: String = admin
        .query_one("SELECT current_setting('work_mem')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        r[0]["rows"],
        json!([[json!(pid_a)]]),
        "the same connection: {reply}"
    );
    assert_eq!(
        r[1]["rows"][0][0],
        format!("DbValue::Str({default_work_mem:?})"),
        "{reply}"
    );
    assert_eq!(r[2]["rows"][0][0], "DbValue::Int32(1)", "{reply}");
    assert_eq!(r[3]["rows"][0][0], "DbValue::Boolean(true)", "{reply}");
    // Nothing was committed.
    assert!(table_values(&admin, &table).await.is_empty());
    // The stale transaction holds a lock on the table until its session ends.
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&app_name],
        )
        .await
        .unwrap();
    drop_table(&admin, &table).await;
}

#[tokio::test]
async fn the_store_session_start_ends_a_stale_transaction() {
    let db_url = test_database_url().await;
    let (app, app_name) = tagged_app(&db_url, "start").await;
    let (admin, table) = scratch_table(&db_url, "start").await;
    let first = backend_pid(&app).await;
    run_steps_then_trap(
        &app,
        json!([
            execute("BEGIN", json!([])),
            execute(
                &format!("INSERT INTO {table} VALUES ('left open')"),
                json!([])
            ),
        ]),
    )
    .await;

    // What cp-store runs first on every connection it opens, then ordinary autocommit work.
    let reply = run_steps(
        &app,
        "/db",
        json!([
            execute(cp_store::SESSION_START, json!([])),
            backend_pid_query(),
            query(
                &format!("SELECT count(*)::int4 AS n FROM {table}"),
                json!([])
            ),
            execute(
                &format!("INSERT INTO {table} VALUES ('committed')"),
                json!([])
            ),
        ]),
    )
    .await;
    let r = &reply["results"];
    assert!(r[0].get("error").is_none(), "{reply}");
    assert_eq!(pid_of(&r[1]), first, "the same pooled connection: {reply}");
    assert_eq!(r[2]["rows"][0][0], "DbValue::Int32(0)", "{reply}");
    assert_eq!(
        table_values(&admin, &table).await,
        vec!["committed".to_string()]
    );
    assert_eq!(
        session_states(&admin, &app_name).await,
        vec!["idle".to_string()]
    );
    drop_table(&admin, &table).await;
}

#[tokio::test]
async fn a_connection_left_in_an_aborted_transaction_is_replaced() {
    let db_url = test_database_url().await;
    let (app, _) = tagged_app(&db_url, "aborted").await;
    let reply = run_steps(
        &app,
        "/db",
        json!([
            backend_pid_query(),
            execute("BEGIN", json!([])),
            execute("SELEC 1", json!([])),
        ]),
    )
    .await;
    let first = pid_of(&reply["results"][0]);
    assert_eq!(reply["results"][2]["error"]["code"], "42601", "{reply}");
    // `Clean`'s statements fail inside the aborted transaction, so deadpool (and the host)
    // drop that connection and lend a new one.
    assert_ne!(backend_pid(&app).await, first);
}

/// The cp-store wrapper's rows, as the component sees them after stripping the marker.
fn stripped(result: &Value) -> (Vec<Value>, Vec<Vec<Value>>) {
    let columns: Vec<String> = result["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("{result}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let types: Vec<Value> = result["columns"].as_array().unwrap().clone();
    let rows: Vec<Vec<Value>> = result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect();
    let (names, rows) =
        cp_store::sentinel::strip(columns, rows, |v| v == "DbValue::DbNull").unwrap();
    let columns = types
        .into_iter()
        .skip(1)
        .zip(names)
        .map(|(t, n)| json!({"name": n, "type": t["type"]}))
        .collect();
    (columns, rows)
}

fn wrapped(sql: &str, params: Value) -> Value {
    let sql = cp_store::sentinel::wrap(sql).unwrap_or_else(|| panic!("not wrapped: {sql}"));
    query(&sql, params)
}

#[tokio::test]
async fn the_statement_wrapper_answers_empty_results_with_their_columns() {
    let db_url = test_database_url().await;
    let app = pg_app(&db_url).await;
    let table = format!("probe_wrap_{}", std::process::id());
    let log = format!("probe_wrap_log_{}", std::process::id());
    let int = |v: i32| json!({"t": "int32", "v": v});
    let reply = run_steps(
        &app,
        "/db",
        json!([
            execute(
                &format!("CREATE TABLE {table} (id int4 PRIMARY KEY, name text)"),
                json!([])
            ),
            execute(&format!("CREATE TABLE {log} (id int4)"), json!([])),
            execute(
                &format!("INSERT INTO {table} SELECT g, 'n' || g FROM generate_series(1, 300) g"),
                json!([])
            ),
            // 3: no rows, plain and wrapped
            query(
                &format!("SELECT id, name FROM {table} WHERE id = $1"),
                json!([int(0)])
            ),
            wrapped(
                &format!("SELECT id, name FROM {table} WHERE id = $1"),
                json!([int(0)])
            ),
            // 5: many rows keep their order
            wrapped(
                &format!("SELECT id, name FROM {table} ORDER BY id DESC;"),
                json!([])
            ),
            // 6: INSERT/UPDATE/DELETE … RETURNING, with and without rows
            wrapped(
                &format!("INSERT INTO {table} VALUES ($1, NULL) RETURNING id, name"),
                json!([int(301)])
            ),
            wrapped(
                &format!("UPDATE {table} SET name = 'x' WHERE id = $1 RETURNING id, name"),
                json!([int(0)])
            ),
            wrapped(
                &format!("DELETE FROM {table} WHERE id = $1 RETURNING id"),
                json!([int(301)])
            ),
            wrapped(
                &format!("DELETE FROM {table} WHERE id = $1 RETURNING id"),
                json!([int(301)])
            ),
            // 10: WITH holding data-modifying statements, matching nothing and something
            wrapped(
                &format!(
                    "WITH gone AS (DELETE FROM {log} WHERE id = $1 RETURNING id) \
                          INSERT INTO {log} SELECT id FROM gone RETURNING id"
                ),
                json!([int(7)]),
            ),
            wrapped(
                &format!(
                    "WITH a AS (INSERT INTO {log} VALUES ($1) RETURNING id) \
                          SELECT a.id, t.name FROM a JOIN {table} t USING (id)"
                ),
                json!([int(7)]),
            ),
            execute(&format!("DROP TABLE {table}, {log}"), json!([])),
        ]),
    )
    .await;
    let r = reply["results"].as_array().unwrap();
    // Unwrapped, a query matching nothing fails here: Spin 4.0.0-4.0.2 would never answer it.
    assert_eq!(r[3]["error"]["kind"], "query-failed", "{reply}");
    assert!(
        r[3]["error"]["text"]
            .as_str()
            .unwrap()
            .contains("spinframework/spin#3671"),
        "{reply}"
    );
    let id_name = json!([{"name": "id", "type": "DbDataType::Int32"}, {"name": "name", "type": "DbDataType::Str"}]);
    let (columns, rows) = stripped(&r[4]);
    assert_eq!(json!(columns), id_name);
    assert!(rows.is_empty());

    let (columns, rows) = stripped(&r[5]);
    assert_eq!(json!(columns), id_name);
    let ids: Vec<Value> = rows.iter().map(|row| row[0].clone()).collect();
    let expected: Vec<Value> = (1..=300)
        .rev()
        .map(|i| json!(format!("DbValue::Int32({i})")))
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(rows[0][1], "DbValue::Str(\"n300\")");

    assert_eq!(
        stripped(&r[6]).1,
        vec![vec![json!("DbValue::Int32(301)"), json!("DbValue::DbNull")]]
    );
    let (columns, rows) = stripped(&r[7]);
    assert_eq!(json!(columns), id_name);
    assert!(rows.is_empty());
    assert_eq!(stripped(&r[8]).1, vec![vec![json!("DbValue::Int32(301)")]]);
    assert!(stripped(&r[9]).1.is_empty());
    let (columns, rows) = stripped(&r[10]);
    assert_eq!(
        json!(columns),
        json!([{"name": "id", "type": "DbDataType::Int32"}])
    );
    assert!(rows.is_empty());
    assert_eq!(
        stripped(&r[11]).1,
        vec![vec![
            json!("DbValue::Int32(7)"),
            json!("DbValue::Str(\"n7\")")
        ]]
    );
}

#[tokio::test]
async fn errors_raised_while_rows_stream_arrive_as_text_and_classify() {
    let db_url = test_database_url().await;
    let app = pg_app(&db_url).await;
    let parent = format!("probe_parent_{}", std::process::id());
    let child = format!("probe_child_{}", std::process::id());
    let str_ = |v: &str| json!({"t": "str", "v": v});
    let reply = run_steps(
        &app,
        "/db",
        json!([
            execute(
                &format!(
                    "CREATE TABLE {parent} (email text UNIQUE NOT NULL, n int4 CHECK (n > 0))"
                ),
                json!([])
            ),
            execute(
                &format!("CREATE TABLE {child} (email text REFERENCES {parent} (email))"),
                json!([])
            ),
            execute(
                &format!("INSERT INTO {parent} VALUES ('a@example.com', 1)"),
                json!([])
            ),
            // 3: the same duplicate, as Spin reports it through execute and through query
            execute(
                &format!("INSERT INTO {parent} VALUES ($1, 1)"),
                json!([str_("a@example.com")])
            ),
            wrapped(
                &format!("INSERT INTO {parent} VALUES ($1, 1) RETURNING email"),
                json!([str_("a@example.com")])
            ),
            // 5: foreign key, check, not-null, all while streaming
            wrapped(
                &format!("INSERT INTO {child} VALUES ($1) RETURNING email"),
                json!([str_("nobody@example.com")])
            ),
            wrapped(
                &format!("UPDATE {parent} SET n = -1 RETURNING email"),
                json!([])
            ),
            wrapped(
                &format!("INSERT INTO {parent} VALUES (NULL, 1) RETURNING email"),
                json!([])
            ),
            execute(&format!("DROP TABLE {child}, {parent}"), json!([])),
            // 9: the session's own backend terminated mid-query: a lost connection
            query("SELECT pg_terminate_backend(pg_backend_pid())", json!([])),
        ]),
    )
    .await;
    let r = reply["results"].as_array().unwrap();
    // Through execute: the structured error, as Spin returns it.
    assert_eq!(r[3]["error"]["code"], "23505", "{reply}");
    assert_eq!(r[3]["error"]["text"], Value::Null);
    let text = |i: usize| -> String {
        assert_eq!(r[i]["error"]["kind"], "query-failed", "{}: {reply}", i);
        assert_eq!(r[i]["error"]["code"], Value::Null, "{}: {reply}", i);
        r[i]["error"]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{i}: {reply}"))
            .to_string()
    };
    let unique = text(4);
    assert!(
        unique.starts_with("Error { kind: Db, cause: Some(DbError { severity: \"ERROR\""),
        "{unique}"
    );
    assert!(unique.contains("code: SqlState(E23505)"), "{unique}");
    assert_eq!(
        cp_store::DbError::from_driver_text(&unique),
        cp_store::DbError::UniqueViolation {
            constraint: format!("{parent}_email_key")
        }
    );
    assert!(matches!(
        cp_store::DbError::from_driver_text(&text(5)),
        cp_store::DbError::ForeignKeyViolation(_)
    ));
    assert!(matches!(
        cp_store::DbError::from_driver_text(&text(6)),
        cp_store::DbError::CheckViolation(_)
    ));
    assert!(matches!(
        cp_store::DbError::from_driver_text(&text(7)),
        cp_store::DbError::Query { code, .. } if code == "23502"
    ));
    let lost = text(9);
    assert!(
        matches!(
            cp_store::DbError::from_driver_text(&lost),
            cp_store::DbError::Unavailable(_)
        ),
        "{lost}"
    );
    // The broken connection is not lent again: the next request works.
    let reply = run_steps(&app, "/db", json!([query("SELECT 1 AS v", json!([]))])).await;
    assert_eq!(
        reply["results"][0]["rows"][0][0], "DbValue::Int32(1)",
        "{reply}"
    );
}

/// The states of the sessions connected with `application_name`.
async fn session_states(admin: &tokio_postgres::Client, application_name: &str) -> Vec<String> {
    admin
        .query(
            "SELECT state FROM pg_stat_activity WHERE application_name = $1",
            &[&application_name],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<_, Option<String>>(0).unwrap_or_default())
        .collect()
}

/// A TCP proxy in front of PostgreSQL that can refuse service, hang, or cut connections,
/// to play a database that goes down and comes back.
struct FlakyProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    hang: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FlakyProxy {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            up: Arc::new(AtomicBool::new(false)),
            hang: Arc::new(AtomicBool::new(false)),
            links: Arc::default(),
        };
        let (up, hang, links) = (proxy.up.clone(), proxy.hang.clone(), proxy.links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if hang.load(Ordering::SeqCst) {
                    // Accept, then never answer.
                    links.lock().unwrap().push(tokio::spawn(async move {
                        let _keep = inbound;
                        std::future::pending::<()>().await;
                    }));
                } else if up.load(Ordering::SeqCst) {
                    let target = target.clone();
                    links.lock().unwrap().push(tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    }));
                }
                // Down: the accepted socket is dropped at once.
            }
        });
        proxy
    }

    /// Cuts every proxied connection, like a database restart.
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

#[tokio::test]
async fn open_fails_fast_while_the_database_is_down_and_recovers() {
    let db_url = test_database_url().await;
    let config: tokio_postgres::Config = db_url.parse().unwrap();
    let proxy = FlakyProxy::start(server_addr(&config)).await;
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    let proxied = format!("postgres://{user}{password}@{}/{TEST_DATABASE}", proxy.addr);
    let app = TestApp::default()
        .component(
            TestComponent::new("db", &["/db/..."])
                .allow("postgres://127.0.0.1:*")
                .variable("db_url", &proxied),
        )
        .start()
        .await;
    let select = || json!([query("SELECT 1 AS v", json!([]))]);

    // Down: refused at once.
    let started = Instant::now();
    let reply = run_steps(&app, "/db", select()).await;
    assert_eq!(reply["open_error"]["kind"], "connection-failed", "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    // Hung: gives up after the connect timeout instead of hanging the request.
    proxy.hang.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let reply = run_steps(&app, "/db", select()).await;
    assert_eq!(reply["open_error"]["kind"], "connection-failed", "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    proxy.hang.store(false, Ordering::SeqCst);
    proxy.cut();

    // Back up: served again.
    proxy.up.store(true, Ordering::SeqCst);
    let reply = run_steps(&app, "/db", select()).await;
    assert_eq!(
        reply["results"][0]["rows"][0][0], "DbValue::Int32(1)",
        "{reply}"
    );

    // Restarted: the pooled connection is broken, so a fresh one is made.
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = run_steps(&app, "/db", select()).await;
    assert_eq!(
        reply["results"][0]["rows"][0][0], "DbValue::Int32(1)",
        "{reply}"
    );
}
