//! Loopback is not a security boundary: a web page the user visits can send requests to
//! `127.0.0.1`. These checks close that:
//!
//! - **Host names are checked (DNS rebinding).** A request whose `Host` is not an allowed name
//!   answers 403 — a hostile name rebound to 127.0.0.1 does not reach the API. Allowed: the
//!   loopback names (`localhost`, `127.0.0.1`, `[::1]`) and the `--allowed-host` names; with no
//!   `--allowed-host`, a server with an API key accepts any name (the key guards it).
//! - **Cross-origin writes are refused.** A browser names the page that sends a request in its
//!   `Origin` header; a request that changes something (any method but GET, HEAD, OPTIONS) whose
//!   origin is neither this server itself nor a `--cors-origin` answers 403. Programs (flowcore's
//!   clients, curl) send no `Origin` and are not affected; the UI is served by the server, so its
//!   origin is the server's.
//! - **Writes speak JSON.** A request that changes something and carries a body must say
//!   `Content-Type: application/json` (415 otherwise): the bodies a page can send without asking
//!   the server first (`text/plain`, forms) are refused whatever their origin.
//! - **CORS only where asked.** Only `--cors-origin` origins get CORS headers; by default a page on
//!   another site cannot read the API's answers either.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::state::AppState;

/// Lets a request through unless its `Host` is not allowed, it is a cross-origin write, or a write
/// whose body is not JSON.
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
    if !host.is_empty() && !host_allowed(&state, host) {
        let also = if state.allowed_hosts.is_empty() {
            String::new()
        } else {
            format!(" or {}", state.allowed_hosts.join(", "))
        };
        return Err(forbidden(format!(
            "Host {host:?} is not an allowed name: this server answers only requests addressed to \
             localhost, 127.0.0.1, [::1]{also} (`--allowed-host NAME` adds one)"
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
            let listed = state
                .cors_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin.trim_end_matches('/')));
            if !listed && (authority.is_empty() || !authority.eq_ignore_ascii_case(host)) {
                return Err(forbidden(format!(
                    "cross-origin request refused: a page from {origin:?} may not change this \
                     server's records"
                )));
            }
        }
        if has_body(headers) && !is_json(headers) {
            return Err(ApiError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "a request that changes something must send its body as \
                          `Content-Type: application/json`"
                    .into(),
            });
        }
    }
    Ok(next.run(request).await)
}

/// The CORS layer: headers only for the `--cors-origin` origins (none by default).
pub(crate) fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::PUT])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
}

fn host_allowed(state: &AppState, host: &str) -> bool {
    let name = host_name(host);
    is_loopback_name(name)
        || state
            .allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
        || (state.allowed_hosts.is_empty() && state.api_key.is_some())
}

fn has_body(headers: &axum::http::HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING)
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        })
}

/// The name in a `Host` header (without its port; an IPv6 address without brackets).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    }
}

/// Whether `name` (a host name without port) is this machine's loopback.
fn is_loopback_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `host` (a `Host` header: a name with an optional port) names this machine's loopback.
#[cfg(test)]
fn is_loopback_host(host: &str) -> bool {
    is_loopback_name(host_name(host))
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
