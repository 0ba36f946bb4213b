//! What a stand-in's binary does once its server runs, the same for every
//! stand-in so that test harnesses and `make up` start them alike.

use std::io::{Read as _, Write as _};

use anyhow::Context as _;

/// Prints `url` on stdout (a parent that asked for port 0 finds the port
/// there), then waits for Ctrl-C. With `exit_on_stdin_eof` the process
/// also exits when stdin closes, so a stand-in spawned with a pipe on stdin
/// dies with its parent. Returns when the stand-in should shut down; `name`
/// prefixes the log lines on stderr.
pub async fn serve_until_interrupted(
    name: &'static str,
    url: &str,
    exit_on_stdin_eof: bool,
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{url}").context("writing the URL to stdout")?;
    stdout.flush().context("flushing stdout")?;

    if exit_on_stdin_eof {
        std::thread::spawn(move || {
            let mut sink = [0u8; 1024];
            let mut stdin = std::io::stdin();
            // Read until EOF (or an error, which means the same here).
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            eprintln!("{name}: stdin closed, exiting");
            std::process::exit(0);
        });
    }

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("{name}: shutting down");
    Ok(())
}
