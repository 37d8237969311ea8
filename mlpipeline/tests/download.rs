//! Downloading TLC months: retried against a local server that fails first, skipped when present,
//! and never leaving a bad file behind.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mlpipeline::data::TaxiColor;
use mlpipeline::flows::download_flow;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-route HTTP server on 127.0.0.1: the first `fail_first` requests get a 503, later ones get
/// `body` for `/trip-data/yellow_tripdata_2021-01.parquet` and a 404 for anything else.
async fn serve(fail_first: usize, body: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    let body = Arc::new(body);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let body = Arc::clone(&body);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => request.extend_from_slice(&buf[..k]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let path = head.split_whitespace().nth(1).unwrap_or("");
                let response: Vec<u8> = if n <= fail_first {
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
                } else if path == "/trip-data/yellow_tripdata_2021-01.parquet" {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                } else {
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .to_vec()
                };
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (addr, requests)
}

/// Runs the download flow for `month` into `dir` against `base`.
async fn download(
    month: &str,
    color: TaxiColor,
    dir: &Path,
    base: String,
) -> flowcore::FlowState<Vec<std::path::PathBuf>> {
    download_flow
        .run(vec![month.into()], color, dir.to_path_buf(), base)
        .await
}

fn fixture() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/yellow_tripdata_sample_2021-01.parquet"),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_server_is_retried_and_the_retries_are_in_the_state_history() {
    let (addr, requests) = serve(2, fixture()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = download(
        "2021-01",
        TaxiColor::Yellow,
        dir.path(),
        format!("http://{addr}/trip-data"),
    )
    .await;
    assert!(state.is_completed(), "{:?}", state.message());
    let paths = state.output().unwrap().clone();
    assert_eq!(paths, [dir.path().join("yellow_tripdata_2021-01.parquet")]);
    assert_eq!(requests.load(Ordering::SeqCst), 3);
    let task = state.task_run("download_month-0").unwrap();
    assert_eq!(task.attempts, 3);
    let retries: Vec<_> = task
        .history
        .iter()
        .filter(|s| s.name == "AwaitingRetry")
        .collect();
    assert_eq!(retries.len(), 2);
    assert!(
        retries[0].message.as_deref().unwrap().contains("503"),
        "{:?}",
        retries[0].message
    );
    // The file is the fixture, and it loads.
    assert_eq!(std::fs::read(&paths[0]).unwrap(), fixture());
    assert_eq!(
        mlpipeline::data::load_data(&paths[0]).unwrap().len(),
        20_000
    );

    // A second run finds the file and does not ask the server again.
    let state = download(
        "2021-01",
        TaxiColor::Yellow,
        dir.path(),
        format!("http://{addr}/trip-data"),
    )
    .await;
    assert!(state.is_completed());
    assert_eq!(requests.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_is_not_parquet_fails_and_leaves_nothing_behind() {
    let (addr, _) = serve(0, b"<html>this is not parquet</html>".to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = download(
        "2021-01",
        TaxiColor::Yellow,
        dir.path(),
        format!("http://{addr}/trip-data"),
    )
    .await;
    assert!(state.is_failed());
    let message = state.message().unwrap();
    assert!(message.contains("not a readable parquet file"), "{message}");
    assert!(
        message.contains("yellow_tripdata_2021-01.parquet"),
        "{message}"
    );
    assert_eq!(state.task_run("download_month-0").unwrap().attempts, 4);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial file left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_month_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = download(
        "2021-13",
        TaxiColor::Green,
        dir.path(),
        "http://127.0.0.1:9/unused".into(),
    )
    .await;
    assert!(state.is_failed());
    assert!(
        state
            .message()
            .unwrap()
            .contains("\"2021-13\" is not a month"),
        "{:?}",
        state.message()
    );
}
