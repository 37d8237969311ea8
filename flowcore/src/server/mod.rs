//! The flowcore server: a JSON API under `/api` (documented at `/api/openapi.json`) and the web UI at
//! `/`, over a [`Store`]. Started by `flowcore server start`; behind the `server`
//! feature so that library users who never start one do not compile it.
//!
//! It binds 127.0.0.1 by default. Binding any other address requires an API key, which clients send
//! as `Authorization: Bearer KEY`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use flowcore::server::{Server, ServerConfig};
//! let server = Server::start(ServerConfig {
//!     port: 0, // any free port
//!     database_url: "sqlite://runs.db?mode=rwc".into(),
//!     ..ServerConfig::default()
//! })
//! .await?;
//! println!("UI at http://{}/", server.addr());
//! server.stop().await;
//! # Ok(()) }
//! ```

pub mod access_log;
mod artifacts;
mod auth;
mod automations;
mod concurrency;
mod deployments;
mod error;
mod events;
mod extract;
mod flow_runs;
mod flows;
mod health;
mod json;
mod notifier;
mod openapi;
mod origin;
mod services;
mod state;
mod task_queue;
mod task_runs;
mod ui;
mod work_queues;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

use state::AppState;

use crate::store::Store;

pub use error::ApiError;
pub use openapi::openapi_json;
pub use services::Services;

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (default 127.0.0.1).
    pub host: IpAddr,
    /// Port (default 4200; 0 picks a free one).
    pub port: u16,
    /// The database (`sqlite://…` or `postgres://…`).
    pub database_url: String,
    /// Required from clients when set; required to bind a non-loopback address.
    pub api_key: Option<String>,
    /// The largest request body accepted, in bytes (default 32 MiB).
    pub body_limit: usize,
    /// The scheduler, late-run and heartbeat services.
    pub services: Services,
    /// `Host` names accepted besides `localhost`, `127.0.0.1` and `[::1]` (`--allowed-host`; names
    /// without a port). With none, a server with an API key accepts any name (the key guards it)
    /// and one without accepts only the loopback names.
    pub allowed_hosts: Vec<String>,
    /// Web origins (`https://dashboard.example.com`) whose pages may call the API: they get CORS
    /// headers and may change records (`--cors-origin`). None by default.
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 4200,
            database_url: String::new(),
            api_key: None,
            body_limit: 32 * 1024 * 1024,
            services: Services::default(),
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A non-loopback address without an API key.
    #[error(
        "binding {0} exposes the API beyond this machine: pass --api-key KEY or set FLOWCORE_API_KEY"
    )]
    ApiKeyRequired(IpAddr),
    /// The database could not be opened.
    #[error("cannot open the database {url}: {source}")]
    Store {
        /// The database URL (its password redacted).
        url: String,
        /// The error.
        source: crate::store::StoreError,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// The whole application: API, OpenAPI document and UI, with authentication and body limits.
pub fn router(store: Store, api_key: Option<String>, body_limit: usize) -> Router {
    router_for(
        store,
        &ServerConfig {
            api_key,
            body_limit,
            ..ServerConfig::default()
        },
    )
}

/// [`router`] with everything `config` says about access: the API key, body limit, allowed host
/// names and CORS origins.
pub fn router_for(store: Store, config: &ServerConfig) -> Router {
    router_with(store, config, tokio::sync::watch::channel(false).1)
}

/// [`router_for`], telling `/api/health` whether this server runs the background services.
fn router_with(
    store: Store,
    config: &ServerConfig,
    leader: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let body_limit = config.body_limit;
    let state = AppState {
        leader,
        store,
        api_key: config.api_key.clone().map(Arc::from),
        allowed_hosts: config
            .allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        cors_origins: config
            .cors_origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect(),
    };
    let api = Router::new()
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        )
        .merge(health::routes())
        .merge(flows::routes())
        .merge(flow_runs::routes())
        .merge(task_runs::routes())
        .merge(events::routes())
        .merge(deployments::routes())
        .merge(work_queues::routes())
        .merge(automations::routes())
        .merge(artifacts::routes())
        .merge(concurrency::routes())
        .merge(task_queue::routes())
        .fallback(|| async { ApiError::not_found("no such API endpoint") })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .nest("/api", api)
        .merge(ui::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::same_origin,
        ))
        .layer(origin::cors(&state.cors_origins))
        .layer(axum::middleware::from_fn(access_log::log_request))
        .with_state(state)
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    /// Whether this server holds the lease and runs the background services.
    leader: tokio::sync::watch::Receiver<bool>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Whether this server runs the background services now (scheduler, Late marking, crashed
    /// runs, notifications, retention): always on SQLite; on PostgreSQL, the one server of those
    /// sharing the database that holds the lease.
    pub fn runs_services(&self) -> bool {
        *self.leader.borrow()
    }

    /// Opens the database (creating or migrating the schema), binds and starts serving in the
    /// background of the current tokio runtime.
    pub async fn start(config: ServerConfig) -> Result<Server, ServerError> {
        if !config.host.is_loopback() && config.api_key.is_none() {
            return Err(ServerError::ApiKeyRequired(config.host));
        }
        let store = Store::connect(&config.database_url)
            .await
            .map_err(|source| ServerError::Store {
                url: crate::config::redacted(&config.database_url),
                source,
            })?;
        let addr = SocketAddr::new(config.host, config.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let (leading, leader) = tokio::sync::watch::channel(false);
        let app = router_with(store.clone(), &config, leader.clone());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let (stop_services, services_stop) = tokio::sync::watch::channel(false);
        let notifier = tokio::spawn(notifier::run(
            store.clone(),
            format!("http://{addr}"),
            services_stop.clone(),
            leader.clone(),
        ));
        let services = tokio::spawn(services::run(
            store,
            config.services,
            services_stop,
            leading,
        ));
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            let _ = stop_services.send(true);
            let _ = services.await;
            let _ = notifier.await;
            served
        });
        Ok(Server {
            addr,
            leader,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's base URL, e.g. `http://127.0.0.1:4200/api`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// Stops accepting connections, finishes the requests in flight, and returns.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }

    /// Serves until the process is interrupted (Ctrl-C), then stops gracefully.
    pub async fn run_until_interrupted(self) -> std::io::Result<()> {
        let Server {
            shutdown, mut task, ..
        } = self;
        tokio::select! {
            result = tokio::signal::ctrl_c() => {
                result?;
                let _ = shutdown.send(());
                task.await.map_err(std::io::Error::other)?
            }
            done = &mut task => done.map_err(std::io::Error::other)?,
        }
    }
}
