//! Reporting to a flowcore server: the sink attached when an API URL is configured.
//!
//! Events are buffered and sent by a thread of their own to `POST {api-url}/events` in batches (up
//! to [`MAX_BATCH`] events, at least every [`SEND_AFTER`]), so neither tasks nor the reporter ever wait
//! on the network. Each batch carries an id: a batch the server wrote but whose answer was lost is not
//! written twice when it is sent again. While the server is unreachable or answers 5xx, the batch is
//! retried with exponential backoff (50 ms doubling to 2 s) for up to 30 s once the server has answered
//! in this process (a restart), or 3 s when it never has; events keep buffering meanwhile. After that
//! the sink warns once on stderr, says where the record goes instead, and writes everything it holds
//! and everything after it to the embedded database (the same one runs go to without a server). A
//! flush (the end of every top-level flow run) waits until everything reported so far was sent or
//! written.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;

use crate::reporting::sink::EventSink;
use crate::reporting::spool::{flatten, Spool};
use crate::schemas::events::Event;

/// Events per request.
pub const MAX_BATCH: usize = 5_000;
/// The longest an event waits before it is sent (unless a flush sends it sooner).
pub const SEND_AFTER: Duration = Duration::from_millis(200);
/// How long a batch is retried when the server has answered before in this process.
const RETRY_AFTER_CONTACT: Duration = Duration::from_secs(30);
/// How long a batch is retried when the server never answered.
const RETRY_NO_CONTACT: Duration = Duration::from_secs(3);

/// Where events go when the server cannot take them.
pub type Fallback = Arc<dyn EventSink>;

/// Sends every event to a flowcore server's API.
pub struct ApiSink {
    spool: Spool,
}

struct Sender {
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    url: String,
    api_key: Option<String>,
    fallback: Option<(Fallback, String)>,
    /// Set once the sink gave up on the server: everything goes to the fallback.
    given_up: bool,
    contacted: bool,
}

#[derive(Serialize)]
struct Body<'a> {
    batch_id: Uuid,
    events: &'a [&'a Event],
}

impl ApiSink {
    /// A sink for the API at `api_url` (e.g. `http://127.0.0.1:4200/api`), sending `api_key` as a
    /// bearer token when given. `fallback` receives the record when the server cannot be reached,
    /// with a description of where that is (for the warning).
    pub fn new(
        api_url: &str,
        api_key: Option<String>,
        fallback: Option<(Fallback, String)>,
    ) -> std::io::Result<ApiSink> {
        ApiSink::start(api_url, api_key, fallback, false)
    }

    /// [`new`](Self::new), for a process that already talked to the server (it runs a flow run
    /// loaded from it): a failing request is then a restart to wait out, not a server that does not
    /// exist (see the module docs).
    pub fn to_known_server(
        api_url: &str,
        api_key: Option<String>,
        fallback: Option<(Fallback, String)>,
    ) -> std::io::Result<ApiSink> {
        ApiSink::start(api_url, api_key, fallback, true)
    }

    fn start(
        api_url: &str,
        api_key: Option<String>,
        fallback: Option<(Fallback, String)>,
        server_known: bool,
    ) -> std::io::Result<ApiSink> {
        let mut sender = Sender {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .connect_timeout(Duration::from_secs(2))
                .build()
                .map_err(std::io::Error::other)?,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            url: format!("{}/events", api_url.trim_end_matches('/')),
            api_key,
            fallback,
            given_up: false,
            contacted: server_known,
        };
        let spool = Spool::start(
            "flowcore-api-client",
            MAX_BATCH,
            SEND_AFTER,
            move |batches: Vec<Arc<[Event]>>| {
                let events = flatten(&batches);
                for chunk in events.chunks(MAX_BATCH) {
                    sender.deliver(chunk);
                }
            },
        )?;
        Ok(ApiSink { spool })
    }
}

impl EventSink for ApiSink {
    fn handle(&self, batch: &[Event]) {
        self.spool.push(&Arc::from(batch));
    }

    fn handle_shared(&self, batch: &Arc<[Event]>) {
        self.spool.push(batch);
    }

    fn flush(&self) {
        self.spool.flush();
    }
}

enum Failure {
    /// Worth retrying: no connection, a timeout, a 5xx.
    Transient(String),
    /// The server refused the batch (4xx): retrying cannot help.
    Rejected(String),
    /// The batch is over the server's body limit (413).
    TooLarge,
}

impl Sender {
    fn deliver(&mut self, batch: &[&Event]) {
        if self.given_up {
            self.to_fallback(batch);
            return;
        }
        let id = Uuid::now_v7();
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            match self.send(id, batch) {
                Ok(()) => {
                    self.contacted = true;
                    return;
                }
                Err(Failure::TooLarge) if batch.len() > 1 => {
                    // Over the server's body limit: send it in halves.
                    let (a, b) = batch.split_at(batch.len() / 2);
                    self.deliver(a);
                    self.deliver(b);
                    return;
                }
                Err(Failure::TooLarge) => {
                    eprintln!(
                        "flowcore: one event is over the server's size limit ({}); it is recorded \
                         in the fallback only",
                        self.url
                    );
                    self.to_fallback(batch);
                    return;
                }
                Err(Failure::Rejected(why)) => {
                    eprintln!(
                        "flowcore: the server at {} refused {} events: {why}",
                        self.url,
                        batch.len()
                    );
                    self.to_fallback(batch);
                    return;
                }
                Err(Failure::Transient(why)) => {
                    let window = if self.contacted {
                        RETRY_AFTER_CONTACT
                    } else {
                        RETRY_NO_CONTACT
                    };
                    if started.elapsed() + delay > window {
                        self.give_up(&why);
                        self.to_fallback(batch);
                        return;
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    fn send(&self, id: Uuid, batch: &[&Event]) -> Result<(), Failure> {
        let body = Body {
            batch_id: id,
            events: batch,
        };
        let mut request = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .map_err(|e| Failure::Transient(crate::api_client::chain(&e)))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            if status.as_u16() == 413 {
                return Err(Failure::TooLarge);
            }
            let text = response.text().await.unwrap_or_default();
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Err(Failure::Transient(format!("{status}: {text}")))
            } else {
                Err(Failure::Rejected(format!("{status}: {text}")))
            }
        })
    }

    fn give_up(&mut self, why: &str) {
        self.given_up = true;
        let instead = match &self.fallback {
            Some((_, where_to)) => format!("recording runs in {where_to} instead"),
            None => "runs are recorded in memory only (the FlowState each run returns)".into(),
        };
        eprintln!(
            "flowcore: cannot reach the flowcore server at {} ({why}); {instead}",
            self.url
        );
    }

    fn to_fallback(&self, batch: &[&Event]) {
        if let Some((sink, _)) = &self.fallback {
            let owned: Vec<Event> = batch.iter().map(|e| (*e).clone()).collect();
            sink.handle(&owned);
            sink.flush();
        }
    }
}
