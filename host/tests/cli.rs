//! The `cp-host` binary as a child process: startup banner, environment variables, and
//! `--exit-on-stdin-eof`.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestApp, TestComponent};

#[tokio::test]
async fn serve_prints_routes_reads_env_variables_and_exits_on_stdin_eof() {
    let app = TestApp::default()
        .app_variable("greeting", "{ default = \"from the manifest\" }")
        .app_variable("other", "{ default = \"default\" }")
        .component(
            TestComponent::new("probe", &["/api/v1/probe/...", "/exact"])
                .variable("greeting", "{{ greeting }}")
                .variable("other", "{{ other }}"),
        );
    let mut child = common::serve_command(&app)
        .env("SPIN_VARIABLE_GREETING", "from the environment")
        .env_remove("SPIN_VARIABLE_OTHER")
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let serving = lines.next().unwrap().unwrap();
    let base = serving
        .strip_prefix("Serving ")
        .unwrap_or_else(|| panic!("unexpected first line {serving:?}"))
        .to_string();
    assert_eq!(lines.next().unwrap().unwrap(), "Available Routes:");
    assert_eq!(
        lines.next().unwrap().unwrap(),
        format!("  probe: {base}/api/v1/probe (wildcard)")
    );
    assert_eq!(
        lines.next().unwrap().unwrap(),
        format!("  probe: {base}/exact")
    );

    let addr = base.strip_prefix("http://").unwrap().parse().unwrap();
    let reply = common::request(addr, "GET", "/exact?op=var&name=greeting", "").await;
    assert_eq!(reply.json()["value"], "from the environment");
    let reply = common::request(addr, "GET", "/exact?op=var&name=other", "").await;
    assert_eq!(reply.json()["value"], "default");

    // Closing stdin ends the process.
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cp-host did not exit after stdin closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn instantiate_bench_reports_each_component() {
    let app = TestApp::default().component(TestComponent::new("probe", &["/..."]));
    let config = app.config();
    let output = Command::new(env!("CARGO_BIN_EXE_cp-host"))
        .arg("instantiate-bench")
        .arg("--manifest")
        .arg(&config.manifest)
        .args(["--iterations", "50", "--cache-dir"])
        .arg(config.cache_dir.as_ref().unwrap())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("probe: median "), "{stdout}");
    assert!(
        stdout.contains("p99") && stdout.contains("(50 instantiations)"),
        "{stdout}"
    );
}

#[test]
fn serve_help_documents_every_limit_and_its_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_cp-host"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "--max-request-body",
        "CP_HOST_MAX_REQUEST_BODY",
        "--max-instance-memory",
        "CP_HOST_MAX_INSTANCE_MEMORY",
        "--request-timeout",
        "CP_HOST_REQUEST_TIMEOUT",
        "--header-read-timeout",
        "CP_HOST_HEADER_READ_TIMEOUT",
        "--body-read-timeout",
        "CP_HOST_BODY_READ_TIMEOUT",
        "--max-connections",
        "CP_HOST_MAX_CONNECTIONS",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

#[test]
fn a_malformed_limit_is_a_clear_startup_error() {
    let app = TestApp::default().component(TestComponent::new("probe", &["/..."]));
    let config = app.config();
    let output = Command::new(env!("CARGO_BIN_EXE_cp-host"))
        .arg("serve")
        .arg("--manifest")
        .arg(&config.manifest)
        .args(["--listen", "127.0.0.1:0", "--max-request-body", "lots"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("lots"), "{stderr}");
}

#[tokio::test]
async fn limits_are_read_from_the_environment() {
    let app = TestApp::default().component(TestComponent::new("probe", &["/..."]));
    let host = common::HostProcess::start(&app, &[], &[("CP_HOST_MAX_REQUEST_BODY", "1KiB")]);
    let small = common::request(host.addr, "POST", "/?op=echo", &"a".repeat(1024)).await;
    assert_eq!(small.status, 200, "{}", small.body);
    let large = common::request(host.addr, "POST", "/?op=echo", &"a".repeat(1025)).await;
    assert_eq!(large.status, 413);
    assert_eq!(large.body, "");
}
