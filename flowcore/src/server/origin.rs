//! Loopback is not a security boundary: a web page the user visits can send requests to
//! `127.0.0.1`. Two checks close that:
//!
//! - **Cross-origin writes are refused.** A browser names the page that sends a request in its
//!   `Origin` header; a request that changes something (any method but GET, HEAD, OPTIONS) whose
//!   origin is not this server itself answers 403. Programs (flowcore's clients, curl) send no
//!   `Origin` and are not affected; the UI is served by the server, so its origin is the server's.
//! - **DNS rebinding is refused.** Without an API key the server only binds a loopback address; a
//!   request whose `Host` is not a loopback name (`localhost`, `127.0.0.1`, `[::1]`) then answers
//!   403 — a hostile name rebound to 127.0.0.1 does not reach the API. (With an API key the server
//!   may be reached under any name; the key guards it.)

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::state::AppState;

/// Lets a request through unless it is a cross-origin write or, without an API key, addressed to a
/// name that is not loopback.
pub(crate) async fn same_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let forbidden = |message: String| ApiError {
        status: StatusCode::FORBIDDEN,
        message,
    };
    if state.api_key.is_none() && !host.is_empty() && !is_loopback_host(host) {
        return Err(forbidden(format!(
            "Host {host:?} is not a loopback name: without an API key this server answers only \
             requests addressed to localhost, 127.0.0.1 or [::1]"
        )));
    }
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if writes {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
            if authority.is_empty() || !authority.eq_ignore_ascii_case(host) {
                return Err(forbidden(format!(
                    "cross-origin request refused: a page from {origin:?} may not change this \
                     server's records"
                )));
            }
        }
    }
    Ok(next.run(request).await)
}

/// Whether `host` (a `Host` header: a name with an optional port) names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_names() {
        for ok in [
            "localhost",
            "localhost:4200",
            "127.0.0.1:4200",
            "127.1.2.3",
            "[::1]:80",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:4200",
            "10.0.0.1",
            "[fe80::1]:80",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
