//! `flowcore server start` logs its requests (method, path, status, latency) in flowcore's format,
//! at the level `--log-level` sets; an unknown level is refused by name.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[test]
fn the_server_logs_each_request() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowcore"))
        .args(["server", "start", "--port", "0", "--log-level", "info"])
        .env("FLOWCORE_HOME", home.path())
        .env_remove("FLOWCORE_API_URL")
        .env_remove("FLOWCORE_DATABASE_URL")
        .env_remove("FLOWCORE_LOGGING_LEVEL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut api = None;
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        if let Some(url) = line.trim().strip_prefix("API:") {
            api = Some(url.split_whitespace().next().unwrap().to_string());
            break;
        }
        line.clear();
    }
    let api = api.expect("the banner names the API");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let statuses = runtime.block_on(async {
        let health = reqwest::get(format!("{api}/health"))
            .await
            .unwrap()
            .status();
        let missing = reqwest::get(format!("{api}/no-such-thing"))
            .await
            .unwrap()
            .status();
        (health.as_u16(), missing.as_u16())
    });
    assert_eq!(statuses, (200, 404));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let health = err
        .lines()
        .find(|l| l.contains("GET /api/health 200"))
        .unwrap_or_else(|| panic!("no request line for /api/health in: {err}"));
    assert!(health.contains("| INFO"), "{health}");
    assert!(health.contains("flowcore.server"), "{health}");
    assert!(health.trim_end().ends_with(" ms"), "{health}");
    assert!(err.contains("GET /api/no-such-thing 404"), "{err}");

    let bad = Command::new(env!("CARGO_BIN_EXE_flowcore"))
        .args(["server", "start", "--port", "0", "--log-level", "loud"])
        .env("FLOWCORE_HOME", home.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("--log-level") && stderr.contains("loud"),
        "{stderr}"
    );
}
