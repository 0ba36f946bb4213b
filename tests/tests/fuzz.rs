//! Fuzzing against the spec: schemathesis drives the real host (the served
//! `/api/v1/openapi.json`, the real components, PostgreSQL, the Kubernetes
//! stand-in) as the operator, with generated valid and invalid requests and
//! stateful sequences along the document's links, and fails on any 5xx, any
//! response that does not match its documented status, content type, headers
//! or schema (every error being the API.md `ErrorBody` envelope), any
//! schema-valid request rejected or schema-invalid one accepted, and any
//! panic in the host log.
//!
//! Bounded for CI: [`DEFAULT_SECONDS`] of fuzzing (schemathesis repeats its
//! fuzzing and stateful phases until the time is spent), with a fixed seed.
//! `make fuzz` runs the long form. Environment:
//! - `CP_FUZZ_LONG=1`: [`LONG_SECONDS`], more examples, a random seed;
//! - `CP_FUZZ_SECONDS`: the time budget;
//! - `CP_FUZZ_EXAMPLES`: examples per operation in each round;
//! - `CP_FUZZ_SEED`: the seed (a failure prints the one it used).
//!
//! Needs `.local/venv` (`scripts/fuzz-setup.sh`, which `make test` runs).
//! Writes a summary to `target/quality/fuzz.txt` and the whole schemathesis
//! output to `target/quality/fuzz.log`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cp_tests::{call, env, workspace, OPERATOR_TOKEN};

/// Seconds of fuzzing in the bounded (CI) run.
const DEFAULT_SECONDS: u64 = 150;
/// Seconds of fuzzing with `CP_FUZZ_LONG=1`.
const LONG_SECONDS: u64 = 30 * 60;
/// Examples per operation and phase in each round of the bounded run.
const DEFAULT_EXAMPLES: u32 = 100;
/// Examples per operation and phase in each round with `CP_FUZZ_LONG=1`.
const LONG_EXAMPLES: u32 = 1000;
/// The seed of the bounded run, so CI is reproducible.
const DEFAULT_SEED: u64 = 20_261_125;
/// How long schemathesis may overrun its budget before it is killed.
const GRACE: Duration = Duration::from_secs(10 * 60);

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
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
    let quality = root.join("target/quality");
    std::fs::create_dir_all(&quality).unwrap();
    let work = quality.join("fuzz-work");
    std::fs::create_dir_all(&work).unwrap();

    let env = env();
    let log_start = std::fs::metadata(&env.host_log).map_or(0, |m| m.len());
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
        seconds.to_string(),
        "--max-examples".into(),
        examples.to_string(),
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
    if let Some(seed) = seed {
        args.extend(["--seed".into(), seed.to_string()]);
    }
    let command_line = format!("{} {}", schemathesis.display(), args.join(" "));
    println!("fuzz: {command_line}");

    let started = Instant::now();
    let mut child = Command::new(&schemathesis)
        .args(&args)
        .current_dir(&work)
        .env("CP_FUZZ_TOKEN", OPERATOR_TOKEN)
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
        if started.elapsed() > Duration::from_secs(seconds) + GRACE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "schemathesis did not finish within {seconds} s + {GRACE:?}; its output so far:\n{}",
                tail(&output, 20_000)
            );
        }
    };
    for r in readers {
        let _ = r.join();
    }
    let elapsed = started.elapsed();
    std::fs::write(quality.join("fuzz.log"), &output).unwrap();

    let host_log = std::fs::read(&env.host_log).unwrap_or_default();
    let host_log = String::from_utf8_lossy(&host_log).into_owned();
    let during = host_log.get(log_start as usize..).unwrap_or("");
    let traffic = Traffic::of(during, &documented_operations());
    let panics: Vec<&str> = host_log
        .lines()
        .filter(|l| l.contains("panicked at"))
        .collect();

    let verdict = if !status.success() {
        format!("FAILED (schemathesis exit code {:?})", status.code())
    } else if !panics.is_empty() {
        "FAILED (panics in the host log)".to_owned()
    } else if traffic.server_errors > 0 {
        "FAILED (5xx responses in the host log)".to_owned()
    } else {
        "passed".to_owned()
    };
    let summary = summary(
        &verdict,
        elapsed,
        (seconds, examples),
        seed,
        &output,
        &traffic,
        &command_line,
    );
    std::fs::write(quality.join("fuzz.txt"), &summary).unwrap();
    println!("{summary}");

    assert!(
        status.success(),
        "schemathesis found failures (exit code {:?}; seed {}; full output in {}).\n\
         Fix them in the code (the OpenAPI annotations and constraints, the validation or the \
         handler), never by filtering. Reproduce with CP_FUZZ_SEED and the `Reproduce with` \
         commands below.\n\n{}",
        status.code(),
        seed_of(&output).unwrap_or_else(|| "?".into()),
        quality.join("fuzz.log").display(),
        failures_section(&output)
    );
    assert!(
        panics.is_empty(),
        "the host log ({}) has panics:\n{}",
        env.host_log.display(),
        panics.join("\n")
    );
    assert_eq!(
        traffic.server_errors,
        0,
        "5xx responses in the host log ({}):\n{}",
        env.host_log.display(),
        during
            .lines()
            .filter(|l| l.split(' ').nth(3).is_some_and(|s| s.starts_with('5')))
            .take(50)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        traffic.uncovered().is_empty(),
        "documented operations the fuzzer never called: {:?}",
        traffic.uncovered()
    );
}

/// `(METHOD, /path/{template})` of every documented operation.
fn documented_operations() -> Vec<(String, String)> {
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
            if item.get(method).is_some() {
                ops.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// What the host served while the fuzzer ran, from its request log
/// (`cp-host: METHOD /path STATUS component 1.234ms`).
#[derive(Default)]
struct Traffic {
    requests: u64,
    by_class: BTreeMap<char, u64>,
    server_errors: u64,
    /// Per documented operation: (requests, 2xx).
    per_operation: BTreeMap<(String, String), (u64, u64)>,
    /// Requests to no documented operation (other methods and paths).
    other: u64,
}

impl Traffic {
    fn of(log: &str, operations: &[(String, String)]) -> Self {
        let mut t = Traffic {
            per_operation: operations.iter().map(|op| (op.clone(), (0, 0))).collect(),
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
            t.requests += 1;
            *t.by_class.entry(class).or_default() += 1;
            if class == '5' {
                t.server_errors += 1;
            }
            match operation_of(operations, method, path) {
                Some(op) => {
                    let entry = t.per_operation.entry(op).or_default();
                    entry.0 += 1;
                    if class == '2' {
                        entry.1 += 1;
                    }
                }
                None => t.other += 1,
            }
        }
        t
    }

    fn uncovered(&self) -> Vec<String> {
        self.per_operation
            .iter()
            .filter(|(_, (n, _))| *n == 0)
            .map(|((m, p), _)| format!("{m} {p}"))
            .collect()
    }
}

/// The documented operation a request went to: the most literal matching
/// path (as the router picks it), then the method.
fn operation_of(ops: &[(String, String)], method: &str, path: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let shape = |template: &str| -> Option<Vec<bool>> {
        let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
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
    elapsed: Duration,
    (seconds, examples): (u64, u32),
    seed: Option<u64>,
    output: &str,
    t: &Traffic,
    command_line: &str,
) -> String {
    let classes: Vec<String> = t
        .by_class
        .iter()
        .map(|(c, n)| format!("{c}xx {n}"))
        .collect();
    let covered = t.per_operation.values().filter(|(n, _)| *n > 0).count();
    let with_2xx = t.per_operation.values().filter(|(_, ok)| *ok > 0).count();
    let mut s = format!(
        "fuzz (schemathesis against /api/v1/openapi.json): {verdict} in {:.0} s\n\
         budget {seconds} s, {examples} examples per operation and phase in each round, \
         seed {}, all checks\n\
         requests sent: {} ({})\n\
         operations covered: {covered}/{} documented ({with_2xx} with a 2xx answer)\n",
        elapsed.as_secs_f64(),
        seed.map_or_else(
            || seed_of(output).unwrap_or_else(|| "random".into()),
            |s| s.to_string()
        ),
        t.requests,
        classes.join(", "),
        t.per_operation.len(),
    );
    for ((method, path), (n, ok)) in &t.per_operation {
        s.push_str(&format!(
            "  {method:<6} {path:<45} {n:>6} requests, {ok:>5} 2xx\n"
        ));
    }
    s.push_str(&format!(
        "  (and {} requests with undocumented methods or paths)\n",
        t.other
    ));
    if let Some(line) = output.lines().rev().find(|l| l.contains("generated")) {
        s.push_str(&format!("schemathesis: {}\n", line.trim()));
    }
    s.push_str(&format!("command: {command_line}\n"));
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
    let ops = vec![
        ("GET".to_owned(), "/api/v1/tenants/drift".to_owned()),
        ("GET".to_owned(), "/api/v1/tenants/{name}".to_owned()),
        ("PUT".to_owned(), "/api/v1/tenants/{name}".to_owned()),
    ];
    assert_eq!(
        operation_of(&ops, "GET", "/api/v1/tenants/drift"),
        Some(ops[0].clone())
    );
    assert_eq!(
        operation_of(&ops, "GET", "/api/v1/tenants/acme"),
        Some(ops[1].clone())
    );
    assert_eq!(operation_of(&ops, "PUT", "/api/v1/tenants/drift"), None);
    let t = Traffic::of(
        "cp-host: GET /api/v1/tenants/a 200 tenants 1.0ms\n\
         cp-host: PUT /api/v1/tenants/a 502 tenants 1.0ms\n\
         cp-host: application \"x\": 2 component(s)\n",
        &ops,
    );
    assert_eq!((t.requests, t.server_errors, t.other), (2, 1, 0));
    assert_eq!(t.uncovered(), vec!["GET /api/v1/tenants/drift".to_owned()]);
}
