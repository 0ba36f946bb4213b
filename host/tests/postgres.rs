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
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to DATABASE_URL {admin}: {e}"));
    tokio::spawn(connection);
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

/// `postgres://host:port` of the test server, for allowed_outbound_hosts.
fn server_origin(url: &str) -> String {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("DATABASE_URL must use TCP, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("postgres://{host}:{port}")
}

async fn native_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
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
    // As in Spin, an empty result carries no column information.
    assert_eq!(r[3], json!({"columns": [], "rows": []}));
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

#[tokio::test]
async fn a_transaction_left_open_is_rolled_back_before_reuse() {
    let db_url = test_database_url().await;
    let app_name = format!("cp_host_tx_{}", std::process::id());
    let tagged_url = if db_url.contains('?') {
        format!("{db_url}&application_name={app_name}")
    } else {
        format!("{db_url}?application_name={app_name}")
    };
    let app = pg_app(&tagged_url).await;
    let table = format!("probe_tx_{}", std::process::id());
    let admin = native_client(&db_url).await;
    admin
        .batch_execute(&format!("CREATE TABLE {table} (v text)"))
        .await
        .unwrap();

    // The component begins a transaction and returns without ending it.
    let reply = run_steps(
        &app,
        "/db",
        json!([
            execute("BEGIN", json!([])),
            execute(
                &format!("INSERT INTO {table} VALUES ('left open')"),
                json!([])
            ),
        ]),
    )
    .await;
    assert_eq!(reply["results"][1]["rows_affected"], 1, "{reply}");

    // Its connection goes back to the pool idle, not idle in a transaction.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = session_states(&admin, &app_name).await;
        if !now.is_empty() && now.iter().all(|s| s == "idle") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pooled connection states: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The next request (on the same pooled connection) commits only its own work.
    let reply = run_steps(
        &app,
        "/db",
        json!([
            execute("BEGIN", json!([])),
            execute(
                &format!("INSERT INTO {table} VALUES ('committed')"),
                json!([])
            ),
            execute("COMMIT", json!([])),
        ]),
    )
    .await;
    assert!(reply["results"][2].get("error").is_none(), "{reply}");
    let rows: Vec<String> = admin
        .query(&format!("SELECT v FROM {table}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, vec!["committed".to_string()]);
    admin
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
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
    let tokio_postgres::config::Host::Tcp(host) = &config.get_hosts()[0] else {
        panic!("DATABASE_URL must use TCP");
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let proxy = FlakyProxy::start(format!("{host}:{port}")).await;
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
