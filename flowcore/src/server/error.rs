//! API errors: a status and a JSON body `{"error": "…"}` that names what was wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// An error answered by the API.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What was wrong (names the field, parameter or run).
    pub message: String,
}

impl ApiError {
    /// 400: the request was malformed; `message` names the field.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl ApiError {
    /// 500: the server failed; `message` says what it was doing.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    /// 409: the request contradicts the resource's state (e.g. a transition the orchestration
    /// policy refuses); `message` names the state.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if let StoreError::Invalid(message) = &e {
            return ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: format!("invalid events: {message}"),
            };
        }
        // Data the database refuses (PostgreSQL class 22: e.g. a NUL character in text; 23: a
        // constraint) is the request's fault, not the server's.
        if let StoreError::Database(sqlx::Error::Database(db)) = &e {
            if db
                .code()
                .is_some_and(|c| c.starts_with("22") || c.starts_with("23"))
            {
                return ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message: format!("the database refused the data: {db}"),
                };
            }
        }
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: e.body_text(),
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: e.body_text(),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> ApiError {
        ApiError {
            status: e.status(),
            message: e.body_text(),
        }
    }
}

/// A server error's body names no internals (database text, paths): it carries an error id, and
/// the server's log line with that id carries the cause.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            let id = uuid::Uuid::now_v7().simple().to_string();
            tracing::error!(
                target: super::access_log::TARGET,
                "error {id} ({}): {}",
                self.status.as_u16(),
                self.message
            );
            let body = serde_json::json!({
                "error": format!("internal server error (error id {id}): the server's log has the cause"),
                "error_id": id,
            });
            return (self.status, axum::Json(body)).into_response();
        }
        (
            self.status,
            axum::Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}
