//! Fuzzing against the spec: schemathesis drives the real host (the served
//! `/api/v1/openapi.json`, the real components, PostgreSQL, the Kubernetes
//! stand-in) with generated valid and invalid requests and stateful
//! sequences along the document's links, and fails on any 5xx, any response
//! that does not match its documented status, content type, headers or
//! schema (every error being the API.md `ErrorBody` envelope), any
//! schema-valid request rejected or schema-invalid one accepted, and any
//! panic in the host log.
//!
//! Two runs, one after the other, on the same host:
//! - as the operator, over every operation;
//! - as a signed-up, email-verified organisation owner, over the user's own
//!   surface ([`OWNER_PATHS`]: `/auth/...`, `/organizations...`,
//!   `/invitations/...`), with the owner's organisation, spare verified
//!   users, a browser session and provider ID tokens made here through the
//!   API first (the hooks get them in `CP_FUZZ_FIXTURES`).
//!
//! The hooks (`tests/fuzz/hooks.py`) point positive requests at live
//! resources they make through the API; their own requests are logged
//! apart (`CP_FUZZ_FIXTURE_LOG`) and not counted as the fuzzer's. The
//! summary merges both runs' per-operation counts: an operation counts as
//! answered with a success when the fuzzer got a 2xx, or, for an operation
//! whose only documented successes are redirects (`GET /auth/login` 302,
//! `GET /auth/callback` 303), one of those documented 3xx. The gate fails
//! when fewer than [`MIN_SUCCESS_PERCENT`] % of the documented operations
//! got one.
//!
//! Bounded for CI: [`DEFAULT_SECONDS`] of fuzzing in all (split between the
//! runs as [`OWNER_SHARE`] says; schemathesis repeats its fuzzing and
//! stateful phases until a run's time is spent), with a fixed seed.
//! `make fuzz` runs the long form. Environment:
//! - `CP_FUZZ_LONG=1`: [`LONG_SECONDS`], more examples, a random seed;
//! - `CP_FUZZ_SECONDS`: the time budget of both runs together;
//! - `CP_FUZZ_EXAMPLES`: examples per operation in each round;
//! - `CP_FUZZ_SEED`: the seed (a failure prints the one it used).
//!
//! Needs `.local/venv` (`scripts/fuzz-setup.sh`, which `make test` runs)
//! and the identity provider of `scripts/oidc.sh`. Writes a summary to
//! `target/quality/fuzz.txt` and the whole schemathesis output to
//! `target/quality/fuzz.log`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cp_tests::{
    call, env, oidc, sign_up_verified, workspace, GOOD_PASSWORD, LITELLM_MASTER_KEY, OPERATOR_TOKEN,
};
use serde_json::{json, Value};

/// Seconds of fuzzing in the bounded (CI) run, both runs together.
const DEFAULT_SECONDS: u64 = 210;
/// Seconds of fuzzing with `CP_FUZZ_LONG=1`, both runs together.
const LONG_SECONDS: u64 = 30 * 60;
/// The owner run's share of the time budget, in percent.
const OWNER_SHARE: u64 = 40;
/// The owner run's longest budget: its fixtures' session JWTs live 15
/// minutes (a longer budget goes to the operator run).
const OWNER_MAX_SECONDS: u64 = 12 * 60;
/// Examples per operation and phase in each round of the bounded run.
const DEFAULT_EXAMPLES: u32 = 100;
/// Examples per operation and phase in each round with `CP_FUZZ_LONG=1`.
const LONG_EXAMPLES: u32 = 1000;
/// The seed of the bounded run, so CI is reproducible.
const DEFAULT_SEED: u64 = 20_261_125;
/// How long schemathesis may overrun its budget before it is killed.
const GRACE: Duration = Duration::from_secs(10 * 60);
/// The share of documented operations the merged runs must get a success
/// answer from (2xx, or a documented redirect where that is the only
/// success), in percent.
const MIN_SUCCESS_PERCENT: f64 = 95.0;
/// The operations of the owner run, by path prefix: the user's own
/// account, organisations and invitations. Operator-only areas are the
/// operator run's.
const OWNER_PATHS: &[&str] = &[
    "/api/v1/auth/",
    "/api/v1/organizations",
    "/api/v1/invitations/",
];
/// Spare verified users the owner run invites (the first stays a member).
const SPARE_USERS: usize = 3;
/// Provider ID tokens for `POST /auth/oidc-token` (each is accepted once).
const ID_TOKENS: usize = 4;

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// One schemathesis run.
struct Run {
    /// `operator` or `owner` (the hooks' `role`).
    role: &'static str,
    /// Its time budget.
    seconds: u64,
    /// What it printed.
    output: String,
    /// How it exited.
    status: ExitStatus,
    /// How long it took.
    elapsed: Duration,
    /// What the host served to the fuzzer (the hooks' fixture requests
    /// taken out).
    traffic: Traffic,
    /// The command line.
    command_line: String,
}

#[test]
fn the_api_behaves_as_its_openapi_document_says_under_fuzzing() {
    // Coverage, 5xx and panics are read from cp-host's request log.
    if cp_tests::skip_unless_cp_host("the fuzzing gate") {
        return;
    }
    let root = workspace();
    let schemathesis = root.join(".local/venv/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "{} is missing: run `scripts/fuzz-setup.sh` to install schemathesis into .local/venv \
         (`make test` and `make fuzz` run it)",
        schemathesis.display()
    );
    let long = env_var("CP_FUZZ_LONG").is_some_and(|v| v == "1");
    let examples: u32 = match env_var("CP_FUZZ_EXAMPLES") {
        Some(v) => v
            .parse()
            .expect("CP_FUZZ_EXAMPLES must be a positive integer"),
        None if long => LONG_EXAMPLES,
        None => DEFAULT_EXAMPLES,
    };
    let seconds: u64 = match env_var("CP_FUZZ_SECONDS") {
        Some(v) => v
            .parse()
            .expect("CP_FUZZ_SECONDS must be a positive integer"),
        None if long => LONG_SECONDS,
        None => DEFAULT_SECONDS,
    };
    let seed: Option<u64> = match env_var("CP_FUZZ_SEED") {
        Some(v) => Some(v.parse().expect("CP_FUZZ_SEED must be an integer")),
        None if long => None,
        None => Some(DEFAULT_SEED),
    };
    let owner_seconds = (seconds * OWNER_SHARE / 100).clamp(1, OWNER_MAX_SECONDS);
    let operator_seconds = seconds.saturating_sub(owner_seconds).max(1);
    let quality = root.join("target/quality");
    std::fs::create_dir_all(&quality).unwrap();
    let work = quality.join("fuzz-work");
    std::fs::create_dir_all(&work).unwrap();

    let env = env();
    let operations = documented_operations();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fuzz = |role: &'static str, seconds: u64, token: &str, fixtures: Value| {
        let mut extra: Vec<String> = Vec::new();
        if role == "owner" {
            extra.extend([
                "--include-path-regex".into(),
                format!("^({})", OWNER_PATHS.join("|")),
            ]);
        }
        run(
            &schemathesis,
            &work,
            Options {
                role,
                seconds,
                examples,
                seed,
                token,
                fixtures,
                extra,
            },
            &operations,
        )
    };

    let operator = fuzz(
        "operator",
        operator_seconds,
        OPERATOR_TOKEN,
        json!({
            "role": "operator",
            "litellm": {"url": env.litellm.url(), "masterKey": LITELLM_MASTER_KEY},
        }),
    );
    // Made after the operator run: session JWTs live 15 minutes.
    let (owner_token, owner_fixtures) = rt.block_on(owner_fixtures());
    let owner = fuzz("owner", owner_seconds, &owner_token, owner_fixtures);
    let runs = [operator, owner];

    let mut log = String::new();
    for r in &runs {
        log.push_str(&format!(
            "===== {} run: {}\n{}",
            r.role, r.command_line, r.output
        ));
    }
    std::fs::write(quality.join("fuzz.log"), &log).unwrap();

    let host_log = std::fs::read(&env.host_log).unwrap_or_default();
    let host_log = String::from_utf8_lossy(&host_log).into_owned();
    let panics: Vec<&str> = host_log
        .lines()
        .filter(|l| l.contains("panicked at"))
        .collect();
    let merged = Traffic::merged(runs.iter().map(|r| &r.traffic));
    let server_errors: u64 = runs.iter().map(|r| r.traffic.server_errors).sum();

    let failed: Vec<&Run> = runs.iter().filter(|r| !r.status.success()).collect();
    let verdict = if let Some(r) = failed.first() {
        format!(
            "FAILED ({} run: schemathesis exit code {:?})",
            r.role,
            r.status.code()
        )
    } else if !panics.is_empty() {
        "FAILED (panics in the host log)".to_owned()
    } else if server_errors > 0 {
        "FAILED (5xx responses in the host log)".to_owned()
    } else if merged.success_percent() < MIN_SUCCESS_PERCENT {
        format!("FAILED (fewer than {MIN_SUCCESS_PERCENT} % of operations answered a success)")
    } else {
        "passed".to_owned()
    };
    let mut summary = summary(&verdict, (seconds, examples), seed, &runs, &merged);
    // `make test` prints the quality files last, so a CI log cut in the middle
    // still shows what failed and how to reproduce it.
    for r in &failed {
        summary.push_str(&format!(
            "--- {} run failures:\n{}\n",
            r.role,
            failure_cases(&r.output)
        ));
    }
    std::fs::write(quality.join("fuzz.txt"), &summary).unwrap();
    println!("{summary}");

    assert!(
        failed.is_empty(),
        "schemathesis found failures (seed {}; full output in {}).\nFix them in the code (the \
         OpenAPI annotations and constraints, the validation or the handler), never by \
         filtering. Reproduce with CP_FUZZ_SEED and the `Reproduce with` commands below.\n\n{}",
        seed.map_or_else(
            || {
                failed
                    .iter()
                    .find_map(|r| seed_of(&r.output))
                    .unwrap_or_else(|| "?".into())
            },
            |s| s.to_string()
        ),
        quality.join("fuzz.log").display(),
        failed
            .iter()
            .map(|r| format!(
                "--- {} run (exit code {:?}):\n{}",
                r.role,
                r.status.code(),
                failures_section(&r.output)
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        panics.is_empty(),
        "the host log ({}) has panics:\n{}",
        env.host_log.display(),
        panics.join("\n")
    );
    assert_eq!(
        server_errors,
        0,
        "5xx responses in the host log ({}):\n{}",
        env.host_log.display(),
        host_log
            .lines()
            .filter(|l| l.split(' ').nth(3).is_some_and(|s| s.starts_with('5')))
            .take(50)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        merged.uncovered().is_empty(),
        "documented operations the fuzzer never called: {:?}",
        merged.uncovered()
    );
    assert!(
        merged.success_percent() >= MIN_SUCCESS_PERCENT,
        "only {:.1} % of the documented operations answered the fuzzer with a success \
         (at least {MIN_SUCCESS_PERCENT} % must); without one:\n{}",
        merged.success_percent(),
        merged.unsuccessful().join("\n")
    );
}

/// What one run is given.
struct Options<'a> {
    role: &'static str,
    seconds: u64,
    examples: u32,
    seed: Option<u64>,
    /// CP_FUZZ_TOKEN: the credential of the run.
    token: &'a str,
    /// CP_FUZZ_FIXTURES.
    fixtures: Value,
    /// More schemathesis arguments.
    extra: Vec<String>,
}

/// Runs schemathesis once, streaming its output, and reads what the host
/// served meanwhile.
fn run(schemathesis: &Path, work: &Path, o: Options<'_>, operations: &[Operation]) -> Run {
    let root = workspace();
    let env = env();
    let log_start = std::fs::metadata(&env.host_log).map_or(0, |m| m.len());
    let fixture_log = work.join(format!("fixtures-{}.log", o.role));
    let _ = std::fs::remove_file(&fixture_log);
    let spec = format!("{}/api/v1/openapi.json", env.url);
    let mut args: Vec<String> = vec![
        "--config-file".into(),
        root.join("tests/fuzz/schemathesis.toml")
            .display()
            .to_string(),
        "run".into(),
        spec,
        "--url".into(),
        env.url.clone(),
        "--checks".into(),
        "all".into(),
        "--phases".into(),
        "examples,coverage,fuzzing,stateful".into(),
        "--max-time".into(),
        o.seconds.to_string(),
        "--max-examples".into(),
        o.examples.to_string(),
        // One worker: CPython 3.11's AST validator is not thread-safe, and
        // hypothesis parses lambdas while generating ("AST constructor
        // recursion depth mismatch" with several workers).
        "--workers".into(),
        "1".into(),
        "--request-timeout".into(),
        "10".into(),
        "--generation-database".into(),
        "none".into(),
        "--no-color".into(),
    ];
    args.extend(o.extra);
    if let Some(seed) = o.seed {
        args.extend(["--seed".into(), seed.to_string()]);
    }
    let command_line = format!("{} {}", schemathesis.display(), args.join(" "));
    println!("fuzz ({}): {command_line}", o.role);

    let started = Instant::now();
    let mut child = Command::new(schemathesis)
        .args(&args)
        .current_dir(work)
        .env("CP_FUZZ_TOKEN", o.token)
        .env("CP_FUZZ_FIXTURES", o.fixtures.to_string())
        .env("CP_FUZZ_FIXTURE_LOG", &fixture_log)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", root.join("tests/fuzz"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "120")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", schemathesis.display()));

    // Stream both outputs line by line (shown with --nocapture, and kept).
    let (tx, rx) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
    let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
    for stream in [stdout, stderr] {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let mut output = String::new();
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                println!("{line}");
                output.push_str(&line);
                output.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break child.wait().unwrap(),
        }
        if started.elapsed() > Duration::from_secs(o.seconds) + GRACE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "schemathesis ({} run) did not finish within {} s + {GRACE:?}; its output so far:\n{}",
                o.role,
                o.seconds,
                tail(&output, 20_000)
            );
        }
    };
    for r in readers {
        let _ = r.join();
    }
    let elapsed = started.elapsed();

    let host_log = std::fs::read(&env.host_log).unwrap_or_default();
    let during = String::from_utf8_lossy(host_log.get(log_start as usize..).unwrap_or(&[]));
    let fixtures = std::fs::read_to_string(&fixture_log).unwrap_or_default();
    let mut traffic = Traffic::of(&during, operations);
    traffic.subtract(&Traffic::of(&fixtures, operations));
    Run {
        role: o.role,
        seconds: o.seconds,
        output,
        status,
        elapsed,
        traffic,
        command_line,
    }
}

/// The owner run's credential and fixtures: a signed-up, verified owner of
/// a new organisation, spare verified users to invite, a browser session
/// (of an identity-provider user) and ID tokens of the provider.
async fn owner_fixtures() -> (String, Value) {
    let owner = sign_up_verified("fuzz-owner").await;
    let org = owner
        .call("POST", "/api/v1/organizations")
        .json(&json!({"name": "Fuzz owners"}))
        .created_id()
        .await;
    let mut spares = Vec::new();
    for _ in 0..SPARE_USERS {
        let u = sign_up_verified("fuzz-spare").await;
        spares.push(json!({"id": u.id, "email": u.email, "token": u.token}));
    }
    let browser = oidc::signed_in(&cp_tests::email("fuzz-session")).await;
    let session = browser
        .cookie(&env().url, "__Host-cp_session")
        .expect("a session cookie after the browser login");
    let mut id_tokens = Vec::new();
    for _ in 0..ID_TOKENS {
        id_tokens.push(
            // The owner's email: with or without the owner's token (schemathesis may
            // send one), the identity is linked to the owner's verified account.
            oidc::provider_id_token(oidc::CLI_CLIENT_ID, &owner.email, None).await,
        );
    }
    let fixtures = json!({
        "role": "owner",
        "password": GOOD_PASSWORD,
        "owner": {"id": owner.id, "email": owner.email, "token": owner.token},
        "orgId": org,
        "spares": spares,
        "session": session,
        "idTokens": id_tokens,
    });
    (owner.token, fixtures)
}

/// A documented operation: `(METHOD, /path/{template})`.
type Op = (String, String);

/// A documented operation and the statuses that count as its success:
/// the 2xx, or, when it documents none, its documented 3xx (a redirect is
/// all a browser endpoint such as `GET /auth/login` answers).
#[derive(Debug, Clone)]
struct Operation {
    op: Op,
    successes: Vec<u16>,
}

/// Every documented operation.
fn documented_operations() -> Vec<Operation> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let doc = rt
        .block_on(call("GET", "/api/v1/openapi.json").anonymous().send())
        .json();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get(method) else { continue };
            let documented: Vec<u16> = op["responses"]
                .as_object()
                .map(|r| r.keys().filter_map(|s| s.parse().ok()).collect())
                .unwrap_or_default();
            let ok: Vec<u16> = documented
                .iter()
                .copied()
                .filter(|s| (200..300).contains(s))
                .collect();
            let successes = if ok.is_empty() {
                documented
                    .into_iter()
                    .filter(|s| (300..400).contains(s))
                    .collect()
            } else {
                ok
            };
            // A rest parameter (`x-access.restParameter`) takes the rest of
            // the path: the template says so the way the router does.
            let template = match op["x-access"]["restParameter"].as_str() {
                Some(rest) => path.replace(&format!("{{{rest}}}"), &format!("{{{rest}...}}")),
                None => path.clone(),
            };
            ops.push(Operation {
                op: (method.to_ascii_uppercase(), template),
                successes,
            });
        }
    }
    ops
}

/// One operation's traffic.
#[derive(Debug, Default, Clone)]
struct Counts {
    requests: u64,
    /// 2xx answers.
    ok: u64,
    /// Answers with a status that counts as the operation's success.
    successes: u64,
}

/// What the host served while the fuzzer ran, from its request log
/// (`cp-host: METHOD /path STATUS component 1.234ms`).
#[derive(Default, Clone)]
struct Traffic {
    requests: u64,
    by_class: BTreeMap<char, u64>,
    server_errors: u64,
    per_operation: BTreeMap<Op, Counts>,
    /// Operations whose only documented successes are redirects.
    redirect_only: Vec<Op>,
    /// Requests to no documented operation (other methods and paths).
    other: u64,
}

impl Traffic {
    fn of(log: &str, operations: &[Operation]) -> Self {
        let ops: Vec<Op> = operations.iter().map(|o| o.op.clone()).collect();
        let mut t = Traffic {
            per_operation: ops
                .iter()
                .map(|op| (op.clone(), Counts::default()))
                .collect(),
            redirect_only: operations
                .iter()
                .filter(|o| o.successes.iter().all(|s| (300..400).contains(s)))
                .map(|o| o.op.clone())
                .collect(),
            ..Traffic::default()
        };
        for line in log.lines() {
            let Some(rest) = line.strip_prefix("cp-host: ") else {
                continue;
            };
            let parts: Vec<&str> = rest.split(' ').collect();
            let [method, path, status, _component, _ms] = parts[..] else {
                continue;
            };
            if !path.starts_with('/') || status.len() != 3 {
                continue;
            }
            let Some(class) = status.chars().next() else {
                continue;
            };
            let Ok(code) = status.parse::<u16>() else {
                continue;
            };
            t.requests += 1;
            *t.by_class.entry(class).or_default() += 1;
            if class == '5' {
                t.server_errors += 1;
            }
            match operation_of(&ops, method, path) {
                Some(op) => {
                    let successes = operations
                        .iter()
                        .find(|o| o.op == op)
                        .map(|o| o.successes.contains(&code))
                        .unwrap_or(false);
                    let entry = t.per_operation.entry(op).or_default();
                    entry.requests += 1;
                    entry.ok += u64::from(class == '2');
                    entry.successes += u64::from(successes);
                }
                None => t.other += 1,
            }
        }
        t
    }

    /// Takes out requests the hooks made themselves (their fixtures), so
    /// the counts are the fuzzer's own. Server errors stay: a 5xx fails the
    /// gate whoever asked.
    fn subtract(&mut self, hooks: &Traffic) {
        self.requests = self.requests.saturating_sub(hooks.requests);
        for (class, n) in &hooks.by_class {
            let e = self.by_class.entry(*class).or_default();
            *e = e.saturating_sub(*n);
        }
        self.other = self.other.saturating_sub(hooks.other);
        for (op, c) in &hooks.per_operation {
            if let Some(e) = self.per_operation.get_mut(op) {
                e.requests = e.requests.saturating_sub(c.requests);
                e.ok = e.ok.saturating_sub(c.ok);
                e.successes = e.successes.saturating_sub(c.successes);
            }
        }
    }

    /// The sum of several runs' traffic.
    fn merged<'a>(runs: impl Iterator<Item = &'a Traffic>) -> Traffic {
        let mut t = Traffic::default();
        for r in runs {
            t.requests += r.requests;
            t.server_errors += r.server_errors;
            t.other += r.other;
            for (class, n) in &r.by_class {
                *t.by_class.entry(*class).or_default() += n;
            }
            for (op, c) in &r.per_operation {
                let e = t.per_operation.entry(op.clone()).or_default();
                e.requests += c.requests;
                e.ok += c.ok;
                e.successes += c.successes;
            }
            t.redirect_only.clone_from(&r.redirect_only);
        }
        t
    }

    fn covered(&self) -> usize {
        self.per_operation
            .values()
            .filter(|c| c.requests > 0)
            .count()
    }

    fn with_2xx(&self) -> usize {
        self.per_operation.values().filter(|c| c.ok > 0).count()
    }

    fn with_success(&self) -> usize {
        self.per_operation
            .values()
            .filter(|c| c.successes > 0)
            .count()
    }

    fn success_percent(&self) -> f64 {
        percent(self.with_success(), self.per_operation.len())
    }

    fn uncovered(&self) -> Vec<String> {
        self.per_operation
            .iter()
            .filter(|(_, c)| c.requests == 0)
            .map(|((m, p), _)| format!("{m} {p}"))
            .collect()
    }

    fn unsuccessful(&self) -> Vec<String> {
        self.per_operation
            .iter()
            .filter(|(_, c)| c.successes == 0)
            .map(|((m, p), c)| format!("  {m} {p} ({} requests)", c.requests))
            .collect()
    }
}

fn percent(n: usize, of: usize) -> f64 {
    if of == 0 {
        return 0.0;
    }
    n as f64 * 100.0 / of as f64
}

/// The documented operation a request went to: the most literal matching
/// path (as the router picks it), then the method.
fn operation_of(ops: &[Op], method: &str, path: &str) -> Option<Op> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let shape = |template: &str| -> Option<Vec<bool>> {
        let mut parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
        // A last `{name...}` takes one segment or more.
        if parts.last().is_some_and(|p| p.ends_with("...}")) {
            if segments.len() < parts.len() {
                return None;
            }
            let extra = segments.len() - parts.len();
            let rest = parts.pop().unwrap_or_default();
            parts.extend(std::iter::repeat_n(rest, extra + 1));
        }
        if parts.len() != segments.len() {
            return None;
        }
        parts
            .iter()
            .zip(&segments)
            .map(|(p, s)| {
                if p.starts_with('{') {
                    (!s.is_empty()).then_some(false)
                } else {
                    (p == s).then_some(true)
                }
            })
            .collect()
    };
    let best = ops.iter().filter_map(|(_, t)| shape(t)).max()?;
    ops.iter()
        .find(|(m, t)| m == method && shape(t).as_ref() == Some(&best))
        .cloned()
}

fn summary(
    verdict: &str,
    (seconds, examples): (u64, u32),
    seed: Option<u64>,
    runs: &[Run],
    merged: &Traffic,
) -> String {
    let total = merged.per_operation.len();
    let elapsed: f64 = runs.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    let seed = seed.map_or_else(
        || {
            runs.iter()
                .find_map(|r| seed_of(&r.output))
                .unwrap_or_else(|| "random".into())
        },
        |s| s.to_string(),
    );
    let mut s = format!(
        "fuzz (schemathesis against /api/v1/openapi.json): {verdict} in {elapsed:.0} s\n\
         budget {seconds} s ({}), {examples} examples per operation and phase in each round, \
         seed {seed}, all checks\n",
        runs.iter()
            .map(|r| format!("{} {} s", r.role, r.seconds))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let line = |label: &str, t: &Traffic| -> String {
        let classes: Vec<String> = t
            .by_class
            .iter()
            .map(|(c, n)| format!("{c}xx {n}"))
            .collect();
        let covered = t.covered();
        format!(
            "{label}: {} requests ({}); operations covered {covered}/{total} ({:.1} %), \
             with a 2xx {}/{total} ({:.1} %)",
            t.requests,
            classes.join(", "),
            percent(covered, total),
            t.with_2xx(),
            percent(t.with_2xx(), total),
        )
    };
    for r in runs {
        s.push_str(&line(&format!("{} run", r.role), &r.traffic));
        if r.role == "owner" {
            let scope: Vec<&Counts> = r
                .traffic
                .per_operation
                .iter()
                .filter(|((_, p), _)| OWNER_PATHS.iter().any(|prefix| p.starts_with(prefix)))
                .map(|(_, c)| c)
                .collect();
            let ok = scope.iter().filter(|c| c.ok > 0).count();
            s.push_str(&format!(
                "; in its scope ({}*), with a 2xx {ok}/{} ({:.1} %)",
                OWNER_PATHS.join("*, "),
                scope.len(),
                percent(ok, scope.len())
            ));
        }
        s.push('\n');
    }
    s.push_str(&line("merged", merged));
    s.push('\n');
    s.push_str(&format!(
        "merged, with a success answer: {}/{total} ({:.1} %; the gate wants {MIN_SUCCESS_PERCENT} \
         %): a 2xx, or for an operation whose only documented successes are redirects ({}) one \
         of those documented 3xx\n",
        merged.with_success(),
        merged.success_percent(),
        merged
            .redirect_only
            .iter()
            .map(|(m, p)| format!("{m} {p}"))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    s.push_str(&format!(
        "  {:<6} {:<62} {:>17} {:>17} {:>9}\n",
        "", "operation", "operator req/2xx", "owner req/2xx", "success"
    ));
    for ((method, path), c) in &merged.per_operation {
        let of = |role: &str| -> String {
            runs.iter()
                .find(|r| r.role == role)
                .and_then(|r| r.traffic.per_operation.get(&(method.clone(), path.clone())))
                .map_or_else(|| "-".into(), |c| format!("{}/{}", c.requests, c.ok))
        };
        s.push_str(&format!(
            "  {method:<6} {path:<62} {:>17} {:>17} {:>9}\n",
            of("operator"),
            of("owner"),
            if c.successes > 0 {
                c.successes.to_string()
            } else {
                "NONE".to_owned()
            }
        ));
    }
    s.push_str(&format!(
        "  (and {} requests with undocumented methods or paths)\n",
        merged.other
    ));
    for r in runs {
        if let Some(line) = r.output.lines().rev().find(|l| l.contains("generated")) {
            s.push_str(&format!("schemathesis ({}): {}\n", r.role, line.trim()));
        }
        s.push_str(&format!("command ({}): {}\n", r.role, r.command_line));
    }
    s
}

fn seed_of(output: &str) -> Option<String> {
    output
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Seed: ").map(str::to_owned))
}

/// The failures and errors sections of schemathesis' output (what to fix).
fn failures_section(output: &str) -> String {
    let start = output
        .find("= ERRORS =")
        .or_else(|| output.find("= FAILURES ="))
        .map(|i| output[..i].rfind('\n').map_or(0, |n| n + 1))
        .unwrap_or(0);
    tail(&output[start..], 30_000)
}

/// Only schemathesis' FAILURES (or ERRORS) block, bounded: the cases and
/// their `Reproduce with` commands, without the warnings and statistics.
fn failure_cases(output: &str) -> String {
    let section = failures_section(output);
    let mut lines = section.lines();
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    out.extend(
        lines.take_while(|l| !(l.starts_with("=====") && l.ends_with("=====") && l.contains(' '))),
    );
    let block = out.join("\n");
    match block.char_indices().nth(6_000) {
        Some((cut, _)) => format!(
            "{}\n[... cut; the whole output is in fuzz.log]",
            &block[..cut]
        ),
        None => block,
    }
}

fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = s.len() - max;
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    format!("[... {} bytes cut ...]\n{}", cut, &s[cut..])
}

#[test]
fn summaries_map_requests_to_operations() {
    let operation = |m: &str, p: &str, successes: &[u16]| Operation {
        op: (m.to_owned(), p.to_owned()),
        successes: successes.to_vec(),
    };
    let operations = vec![
        operation("GET", "/api/v1/tenants/drift", &[200]),
        operation("GET", "/api/v1/tenants/{name}", &[200]),
        operation("PUT", "/api/v1/tenants/{name}", &[200]),
        operation("GET", "/api/v1/auth/login", &[302]),
    ];
    let ops: Vec<Op> = operations.iter().map(|o| o.op.clone()).collect();
    assert_eq!(
        operation_of(&ops, "GET", "/api/v1/tenants/drift"),
        Some(ops[0].clone())
    );
    assert_eq!(
        operation_of(&ops, "GET", "/api/v1/tenants/acme"),
        Some(ops[1].clone())
    );
    assert_eq!(operation_of(&ops, "PUT", "/api/v1/tenants/drift"), None);
    // A rest parameter takes one segment or more, encoded or not.
    let rest: Vec<Op> = vec![
        ("GET".into(), "/api/v1/vaults/{vaultId}/secrets".into()),
        (
            "GET".into(),
            "/api/v1/vaults/{vaultId}/secrets/{path...}".into(),
        ),
    ];
    for path in [
        "/api/v1/vaults/v/secrets/a",
        "/api/v1/vaults/v/secrets/a/b/c",
        "/api/v1/vaults/v/secrets/a%2Fb",
    ] {
        assert_eq!(
            operation_of(&rest, "GET", path),
            Some(rest[1].clone()),
            "{path}"
        );
    }
    assert_eq!(
        operation_of(&rest, "GET", "/api/v1/vaults/v/secrets"),
        Some(rest[0].clone())
    );
    let mut t = Traffic::of(
        "cp-host: GET /api/v1/tenants/a 200 tenants 1.0ms\n\
         cp-host: GET /api/v1/tenants/b 200 tenants 1.0ms\n\
         cp-host: PUT /api/v1/tenants/a 502 tenants 1.0ms\n\
         cp-host: GET /api/v1/auth/login 302 identity 1.0ms\n\
         cp-host: application \"x\": 2 component(s)\n",
        &operations,
    );
    assert_eq!((t.requests, t.server_errors, t.other), (4, 1, 0));
    assert_eq!(t.uncovered(), vec!["GET /api/v1/tenants/drift".to_owned()]);
    assert_eq!((t.with_2xx(), t.with_success()), (1, 2));
    // The hooks' own requests are not the fuzzer's.
    t.subtract(&Traffic::of(
        "cp-host: GET /api/v1/tenants/x 200 fixture 0ms\n\
         cp-host: GET /api/v1/tenants/y 200 fixture 0ms\n",
        &operations,
    ));
    assert_eq!((t.requests, t.with_2xx(), t.with_success()), (2, 0, 1));
    let merged = Traffic::merged([&t, &t].into_iter());
    assert_eq!((merged.requests, merged.covered()), (4, 2));
    assert!((merged.success_percent() - 25.0).abs() < 1e-9);
}

#[test]
fn the_failure_summary_keeps_only_the_failing_cases() {
    let output = "Test cases: 3 passed\n\
        ===== FAILURES =====\n\
        ___ PATCH /api/v1/auth/me ___\n\
        Reproduce with:\n    curl -X PATCH http://h/api/v1/auth/me\n\
        ===== WARNINGS =====\n\
        Authentication failed\n";
    let cases = failure_cases(output);
    assert!(cases.starts_with("===== FAILURES ====="), "{cases}");
    assert!(cases.contains("curl -X PATCH"), "{cases}");
    assert!(!cases.contains("WARNINGS"), "{cases}");
}
