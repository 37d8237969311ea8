//! The web UI: static files compiled into the binary (no Node build step), served at `/`.
//!
//! `index.html` loads `/ui/app.js` as a native ES module, which imports the other modules by
//! relative path (`./util.js`, `./pages/flow-runs.js`, …), so each module is served under `/ui/` at
//! the path its `import` resolves to.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::state::AppState;

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the UI: the path it is served at, its content type and its text. A new module
/// under `ui/` needs a row here, at the path its `import` names.
const FILES: &[(&str, &str, &str)] = &[
    ("/", HTML, include_str!("ui/index.html")),
    ("/ui/style.css", CSS, include_str!("ui/style.css")),
    ("/ui/app.js", JS, include_str!("ui/app.js")),
    ("/ui/api.js", JS, include_str!("ui/api.js")),
    ("/ui/charts.js", JS, include_str!("ui/charts.js")),
    (
        "/ui/known-deployments.js",
        JS,
        include_str!("ui/known-deployments.js"),
    ),
    ("/ui/logs.js", JS, include_str!("ui/logs.js")),
    ("/ui/nav.js", JS, include_str!("ui/nav.js")),
    ("/ui/page.js", JS, include_str!("ui/page.js")),
    ("/ui/render.js", JS, include_str!("ui/render.js")),
    ("/ui/util.js", JS, include_str!("ui/util.js")),
    (
        "/ui/pages/deployment.js",
        JS,
        include_str!("ui/pages/deployment.js"),
    ),
    (
        "/ui/pages/deployments.js",
        JS,
        include_str!("ui/pages/deployments.js"),
    ),
    (
        "/ui/pages/flow-run.js",
        JS,
        include_str!("ui/pages/flow-run.js"),
    ),
    (
        "/ui/pages/flow-runs.js",
        JS,
        include_str!("ui/pages/flow-runs.js"),
    ),
    ("/ui/pages/flows.js", JS, include_str!("ui/pages/flows.js")),
    (
        "/ui/pages/not-found.js",
        JS,
        include_str!("ui/pages/not-found.js"),
    ),
    (
        "/ui/pages/task-run.js",
        JS,
        include_str!("ui/pages/task-run.js"),
    ),
    (
        "/ui/pages/artifacts.js",
        JS,
        include_str!("ui/pages/artifacts.js"),
    ),
    (
        "/ui/artifact-view.js",
        JS,
        include_str!("ui/artifact-view.js"),
    ),
    (
        "/ui/pages/concurrency-limits.js",
        JS,
        include_str!("ui/pages/concurrency-limits.js"),
    ),
    (
        "/ui/pages/automations.js",
        JS,
        include_str!("ui/pages/automations.js"),
    ),
    (
        "/ui/pages/work-queues.js",
        JS,
        include_str!("ui/pages/work-queues.js"),
    ),
];

/// One `GET` route per row of `FILES`, each answering with the file's text and content type.
pub(crate) fn routes() -> Router<AppState> {
    let mut router: Router<AppState> = Router::new();
    for &(path, content_type, body) in FILES {
        router = router.route(path, get(move || async move { file(content_type, body) }));
    }
    router
}

fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::{FILES, JS};

    /// Resolves a relative module specifier (`./x.js`, `../x.js`) against the module at `from`.
    fn resolve(from: &str, specifier: &str) -> String {
        let mut parts: Vec<&str> = from.split('/').collect();
        parts.pop(); // the importing file's own name
        for segment in specifier.split('/') {
            match segment {
                "." => {}
                ".." => {
                    parts.pop();
                }
                _ => parts.push(segment),
            }
        }
        parts.join("/")
    }

    #[test]
    fn every_module_import_is_served_as_javascript() {
        let mut imports = 0;
        for &(path, content_type, body) in FILES {
            if !path.ends_with(".js") {
                continue;
            }
            assert_eq!(content_type, JS, "{path}");
            for line in body.lines() {
                let line = line.trim_start();
                if !(line.starts_with("import ") || line.starts_with("} from ")) {
                    continue;
                }
                let Some((_, rest)) = line.split_once("from '") else {
                    continue;
                };
                let specifier = rest.split('\'').next().unwrap();
                assert!(
                    specifier.starts_with("./") || specifier.starts_with("../"),
                    "{path} imports {specifier}: only relative imports can be served"
                );
                let target = resolve(path, specifier);
                assert!(
                    FILES.iter().any(|&(p, t, _)| p == target && t == JS),
                    "{path} imports {specifier}, but {target} is not served as JavaScript"
                );
                imports += 1;
            }
        }
        assert!(imports > 0, "no import found in the modules");
    }

    #[test]
    fn the_page_loads_the_entry_module() {
        let index = FILES.iter().find(|&&(p, _, _)| p == "/").unwrap().2;
        assert!(index.contains(r#"<script type="module" src="/ui/app.js"></script>"#));
    }
}
