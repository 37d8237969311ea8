//! What handlers share: ids from the path, paging, list and time query parameters.

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::ApiError;
pub(crate) use crate::schemas::records::Page;

/// The id in the path, or 400 naming what it should identify.
pub(crate) fn id_of(
    path: Result<Path<String>, PathRejection>,
    what: &str,
) -> Result<Uuid, ApiError> {
    let Path(raw) = path?;
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid {what} id {raw:?}: not a UUID")))
}

pub(crate) fn list(value: &Option<String>) -> Vec<String> {
    value
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(crate) fn time(field: &str, value: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "invalid `{field}`: {v:?} is not an RFC 3339 time ({e})"
                    ))
                })
        })
        .transpose()
}
