//! The API key check: with a key configured, every API request but `/api/health` must carry
//! `Authorization: Bearer KEY`.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::state::AppState;

/// Lets a request through when no key is configured or it carries the key.
pub(crate) async fn require_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(key) = &state.api_key else {
        return Ok(next.run(request).await);
    };
    if request.uri().path() == "/health" || request.uri().path() == "/api/health" {
        return Ok(next.run(request).await);
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 9110): `Bearer`, `bearer`, `BEARER`.
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), key.as_bytes()) => {
            Ok(next.run(request).await)
        }
        Some(_) => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "the API key in the Authorization header is wrong".into(),
        }),
        None => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "this server requires an API key: send `Authorization: Bearer KEY` \
                      (FLOWCORE_API_KEY for flowcore clients)"
                .into(),
        }),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
