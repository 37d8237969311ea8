//! Artifacts: listed by key or flow run, one by id, the latest of a key. Markdown is rendered here
//! to HTML that is safe to show: raw HTML in the text is shown as text, and only http(s), mailto and
//! relative links are kept.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{id_of, Page};
use super::state::AppState;
use crate::schemas::artifacts::{Artifact, ArtifactKind, StoredArtifact};
use crate::store::ArtifactFilter;

/// This resource's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/artifacts", get(artifacts))
        .route("/artifacts/latest/{key}", get(latest))
        .route("/artifacts/{id}", get(artifact))
}

/// Whether a link target may be followed from the UI.
fn safe_link(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        // A scheme: only these.
        Some((scheme, _)) if !scheme.contains('/') => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

/// Markdown → HTML with raw HTML escaped and unsafe links dropped.
pub(crate) fn render_markdown(text: &str) -> String {
    let events = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(
        |event| match event {
            // Raw HTML is shown as the text it is, never interpreted.
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe_link(&dest_url) => Event::Start(Tag::Link {
                link_type,
                dest_url: CowStr::Borrowed("#"),
                title,
                id,
            }),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe_link(&dest_url) => Event::Start(Tag::Image {
                link_type,
                dest_url: CowStr::Borrowed(""),
                title,
                id,
            }),
            other => other,
        },
    );
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

fn served(artifact: Artifact) -> StoredArtifact {
    let html = match (artifact.kind, artifact.data.as_str()) {
        (ArtifactKind::Markdown, Some(text)) => Some(render_markdown(text)),
        _ => None,
    };
    StoredArtifact { artifact, html }
}

/// Query parameters of `GET /api/artifacts`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArtifactQuery {
    /// Only this key.
    pub key: Option<String>,
    /// Only those of this flow run (id).
    #[param(format = Uuid)]
    pub flow_run: Option<String>,
    /// At most this many, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Artifacts, newest first.
#[utoipa::path(get, path = "/api/artifacts", tag = "artifacts", params(ArtifactQuery),
    responses((status = 200, body = Page<StoredArtifact>), (status = 400, description = "a bad parameter")))]
pub(crate) async fn artifacts(
    State(state): State<AppState>,
    query: Result<Query<ArtifactQuery>, QueryRejection>,
) -> Result<Json<Page<StoredArtifact>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "invalid `limit`: {limit} is not between 1 and 1000"
        )));
    }
    let flow_run_id = match query.flow_run.as_deref() {
        None => None,
        Some(raw) => Some(raw.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid `flow_run`: {raw:?} is not a UUID"))
        })?),
    };
    let filter = ArtifactFilter {
        key: query.key.filter(|k| !k.is_empty()),
        flow_run_id,
        limit: Some(limit),
    };
    let list = state.store.artifacts(&filter).await?;
    Ok(Json(Page::all(list.into_iter().map(served).collect())))
}

/// One artifact.
#[utoipa::path(get, path = "/api/artifacts/{id}", tag = "artifacts",
    params(("id" = Uuid, Path, description = "artifact id")),
    responses((status = 200, body = StoredArtifact), (status = 404, description = "no such artifact")))]
pub(crate) async fn artifact(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredArtifact>, ApiError> {
    let id = id_of(id, "artifact")?;
    state
        .store
        .artifact(id)
        .await?
        .map(|a| Json(served(a)))
        .ok_or_else(|| ApiError::not_found(format!("no artifact with id {id}")))
}

/// The newest artifact of a key.
#[utoipa::path(get, path = "/api/artifacts/latest/{key}", tag = "artifacts",
    params(("key" = String, Path, description = "artifact key")),
    responses((status = 200, body = StoredArtifact), (status = 404, description = "no artifact with this key")))]
pub(crate) async fn latest(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredArtifact>, ApiError> {
    let Path(key) = key?;
    let filter = ArtifactFilter {
        key: Some(key.clone()),
        flow_run_id: None,
        limit: Some(1),
    };
    state
        .store
        .artifacts(&filter)
        .await?
        .into_iter()
        .next()
        .map(|a| Json(served(a)))
        .ok_or_else(|| ApiError::not_found(format!("no artifact with key {key:?}")))
}

#[cfg(test)]
mod tests {
    use super::render_markdown;

    #[test]
    fn markdown_is_rendered_without_scripts() {
        let html = render_markdown(
            "# Report\n\n**RMSE** 7.76 <script>alert(1)</script>\n\n[x](javascript:alert(1)) [ok](https://example.com)\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        );
        assert!(html.contains("<h1>Report</h1>"), "{html}");
        assert!(html.contains("<strong>RMSE</strong>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
        assert!(html.contains("<table>"), "{html}");
    }
}
