//! A JSON request body for the ingest endpoint, parsed the fast way first.
//!
//! axum's `Json` tracks the path of every value it parses so that an error can name the field; on the
//! endpoint that takes every reported event that bookkeeping is a large part of the server's work.
//! [`FastJson`] parses without it and, only when the body is bad, parses again through axum's `Json`
//! for the same 4xx answer naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body (`Content-Type: application/json` or `application/…+json`), answered as axum's
/// `Json` answers when it is bad.
pub(crate) struct FastJson<T>(pub T);

impl<T, S> FromRequest<S> for FastJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "Expected request with `Content-Type: application/json`".into(),
            });
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError {
                status: e.status(),
                message: e.body_text(),
            })?;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(FastJson(value)),
            Err(_) => axum::Json::<T>::from_bytes(&bytes)
                .map(|axum::Json(value)| FastJson(value))
                .map_err(ApiError::from),
        }
    }
}

fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        })
}
