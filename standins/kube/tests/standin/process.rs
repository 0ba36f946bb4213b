//! The `cp-kube-standin` binary: flags, URL on stdout, `--exit-on-stdin-eof`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

#[tokio::test]
async fn the_binary_serves_and_exits_when_stdin_closes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cp-kube-standin"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--token",
            "bin-token",
            "--exit-on-stdin-eof",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line.trim().to_string()
    })
    .await
    .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let api = Api::new(url.clone(), Some("bin-token"));
    assert_eq!(api.get("/readyz").await.text, "ok");
    assert_eq!(api.post(&tenants(NS), &tenant("bin")).await.status, 201);
    // Operator simulation is on by default.
    assert_eq!(
        api.get(&format!("{}/bin", deployments(NS))).await.status,
        200
    );
    assert_eq!(Api::new(url, None).get(&tenants(NS)).await.status, 401);

    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after stdin closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("stand-in"), "{log}");
    assert!(
        log.contains("POST /apis/opencrane.io/v1alpha1/namespaces/team-a/tenants 201"),
        "{log}"
    );
}
