//! The server's request log: one line per request — method, path, status, latency — at INFO (a
//! 5xx at ERROR), in the Prefect-style format of flowcore's logging (`flowcore server start
//! --log-level`, `FLOWCORE_LOGGING_LEVEL`).

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// The logger name of the request lines.
pub const TARGET: &str = "flowcore.server";

/// Logs one request after it was answered.
pub(crate) async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(target: TARGET, "{method} {path} {} {ms:.1} ms", status.as_u16());
    } else {
        tracing::info!(target: TARGET, "{method} {path} {} {ms:.1} ms", status.as_u16());
    }
    response
}
