//! Reporting to a flowcore server: the sink attached when an API URL is configured.
//!
//! Events are buffered and sent by a thread of their own to `POST {api-url}/events` in batches (up
//! to [`MAX_BATCH`] events, at least every [`SEND_AFTER`]), so neither tasks nor the reporter ever wait
//! on the network. Each batch carries an id: a batch the server wrote but whose answer was lost is not
//! written twice when it is sent again. While the server is unreachable or answers 5xx, the batch is
//! retried with exponential backoff (50 ms doubling to 2 s) for up to 30 s once the server has answered
//! in this process (a restart), or 3 s when it never has (`FLOWCORE_API_RETRY_SECONDS` sets both);
//! events keep buffering meanwhile. After that the sink warns once and keeps the batch, and every
//! batch after it, in its durable [`Outbox`] on disk, and sends them — in order, each exactly once —
//! as soon as the server answers again: from this process, or from the next flowcore process that
//! reports to that server. The server so ends up with the whole record; nothing is split between
//! it and a local database. A flush (the end of every top-level flow run) waits until everything
//! reported so far was sent or kept in the outbox, and first tries to send what the outbox holds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;

use crate::reporting::outbox::Outbox;
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
/// The longest wait between two tries to send what the outbox holds (while events keep coming).
const OUTBOX_RETRY_MAX: Duration = Duration::from_secs(5);

/// Sends every event to a flowcore server's API.
pub struct ApiSink {
    spool: Spool,
    sender: Arc<Mutex<Sender>>,
}

/// How an [`ApiSink`] behaves (see the [module documentation](self)).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ApiSinkOptions {
    /// Sent as a bearer token.
    pub api_key: Option<String>,
    /// Where batches the server has not acknowledged wait (none: they are dropped, with a warning,
    /// once retrying gives up).
    pub outbox: Option<Outbox>,
    /// The process already talked to the server (it runs a flow run loaded from it): a failing
    /// request is a restart to wait out, not a server that does not exist.
    pub server_known: bool,
    /// How long a batch is retried before it goes to the outbox (default: 30 s once the server
    /// answered, 3 s before).
    pub retry_window: Option<Duration>,
}

impl ApiSinkOptions {
    /// Options with this API key and outbox, the rest default.
    pub fn new(api_key: Option<String>, outbox: Option<Outbox>) -> ApiSinkOptions {
        ApiSinkOptions {
            api_key,
            outbox,
            ..ApiSinkOptions::default()
        }
    }

    /// These options with a retry window (see [`retry_window`](Self::retry_window)).
    pub fn retry_window(mut self, window: Duration) -> ApiSinkOptions {
        self.retry_window = Some(window);
        self
    }

    /// These options for a process that already talked to the server.
    pub fn server_known(mut self) -> ApiSinkOptions {
        self.server_known = true;
        self
    }
}

struct Sender {
    client: reqwest::Client,
    /// Always `Some` until dropped (see `Drop`).
    runtime: Option<tokio::runtime::Runtime>,
    /// The servers' base URLs (`api-url` may list several: a batch goes to the next one when a
    /// server cannot be reached).
    urls: crate::api_client::ApiUrls,
    api_key: Option<String>,
    outbox: Option<Outbox>,
    retry_window: Option<Duration>,
    /// Batches wait in the outbox: new ones go behind them.
    outboxing: bool,
    /// Set once the sink gave up on a server it has no outbox for: events are dropped.
    given_up: bool,
    contacted: bool,
    /// When to try the outbox again, and the wait after that.
    next_drain: Instant,
    drain_delay: Duration,
}

#[derive(Serialize)]
struct Body<'a> {
    batch_id: Uuid,
    events: &'a [&'a Event],
}

impl ApiSink {
    /// A sink for the API at `api_url` (e.g. `http://127.0.0.1:4200/api`), sending `api_key` as a
    /// bearer token when given, keeping what the server does not acknowledge in `outbox`.
    pub fn new(
        api_url: &str,
        api_key: Option<String>,
        outbox: Option<Outbox>,
    ) -> std::io::Result<ApiSink> {
        ApiSink::with_options(api_url, ApiSinkOptions::new(api_key, outbox))
    }

    /// [`new`](Self::new), for a process that already talked to the server (it runs a flow run
    /// loaded from it): a failing request is then a restart to wait out, not a server that does not
    /// exist (see the module docs).
    pub fn to_known_server(
        api_url: &str,
        api_key: Option<String>,
        outbox: Option<Outbox>,
    ) -> std::io::Result<ApiSink> {
        ApiSink::with_options(api_url, ApiSinkOptions::new(api_key, outbox).server_known())
    }

    /// A sink for the API at `api_url` with `options`.
    pub fn with_options(api_url: &str, options: ApiSinkOptions) -> std::io::Result<ApiSink> {
        // Batches an earlier process left in the outbox go first: new ones queue behind them.
        let outboxing = match &options.outbox {
            Some(outbox) => !outbox.pending()?.is_empty(),
            None => false,
        };
        let sender = Arc::new(Mutex::new(Sender {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .connect_timeout(Duration::from_secs(2))
                .build()
                .map_err(std::io::Error::other)?,
            runtime: Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?,
            ),
            urls: crate::api_client::ApiUrls::parse(api_url),
            api_key: options.api_key,
            outbox: options.outbox,
            retry_window: options.retry_window,
            outboxing,
            given_up: false,
            contacted: options.server_known,
            next_drain: Instant::now(),
            drain_delay: Duration::from_millis(100),
        }));
        let consumer = Arc::clone(&sender);
        let spool = Spool::start(
            "flowcore-api-client",
            MAX_BATCH,
            SEND_AFTER,
            move |batches: Vec<Arc<[Event]>>| {
                let events = flatten(&batches);
                let mut sender = consumer.lock().unwrap_or_else(|e| e.into_inner());
                for chunk in events.chunks(MAX_BATCH) {
                    sender.deliver(chunk);
                }
            },
        )?;
        Ok(ApiSink { spool, sender })
    }

    /// The batches waiting in this sink's outbox (none without one).
    pub fn outbox_pending(&self) -> usize {
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        sender
            .outbox
            .as_ref()
            .and_then(|o| o.pending().ok())
            .map_or(0, |p| p.len())
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
        let mut sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if sender.outboxing {
            sender.drain(true);
        }
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

impl Drop for Sender {
    fn drop(&mut self) {
        // The last owner may be a task of the program's own runtime (the sink dropped inside
        // `async` code): shut this one down without blocking.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Sender {
    fn deliver(&mut self, batch: &[&Event]) {
        if self.given_up {
            return;
        }
        let id = Uuid::now_v7();
        let body = serde_json::to_vec(&Body {
            batch_id: id,
            events: batch,
        })
        .expect("events serialize");
        if self.outboxing {
            self.keep(id, &body);
            self.drain(false);
            return;
        }
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            match self.send(body.clone()) {
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
                    self.refused(id, &body, "one event is over the server's size limit");
                    return;
                }
                Err(Failure::Rejected(why)) => {
                    self.refused(id, &body, &why);
                    return;
                }
                Err(Failure::Transient(why)) => {
                    let window = self.retry_window.unwrap_or(if self.contacted {
                        RETRY_AFTER_CONTACT
                    } else {
                        RETRY_NO_CONTACT
                    });
                    if started.elapsed() + delay > window {
                        self.give_up(&why);
                        self.keep(id, &body);
                        return;
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Where batches go now: the events endpoint of the server that answered last.
    fn url(&self) -> String {
        format!("{}/events", self.urls.current())
    }

    fn send(&self, body: Vec<u8>) -> Result<(), Failure> {
        let runtime = self
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the sender");
        runtime.block_on(async {
            // The first server that takes the connection answers; one that cannot be reached
            // passes the batch to the next URL of the list. Copied only for a URL that may not be
            // the last one tried (one URL: no copy).
            let mut body = Some(body);
            let response = self
                .urls
                .send(|base, last| {
                    let payload = if last {
                        body.take().unwrap_or_default()
                    } else {
                        body.clone().unwrap_or_default()
                    };
                    let mut request = self
                        .client
                        .post(format!("{base}/events"))
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(payload);
                    if let Some(key) = &self.api_key {
                        request = request.bearer_auth(key);
                    }
                    request
                })
                .await
                .map(|(_, response)| response)
                .map_err(|(_, e)| Failure::Transient(crate::api_client::chain(&e)))?;
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

    /// The server cannot be reached: batches go to the outbox from now on (or are dropped without
    /// one), with one warning.
    fn give_up(&mut self, why: &str) {
        let instead = match &self.outbox {
            Some(outbox) => {
                self.outboxing = true;
                self.next_drain = Instant::now() + self.drain_delay;
                format!(
                    "keeping its events in {} and sending them, in order, once it answers (from \
                     this process or the next one that reports to it)",
                    outbox.dir().display()
                )
            }
            None => {
                self.given_up = true;
                "runs are recorded in memory only (the FlowState each run returns)".into()
            }
        };
        eprintln!(
            "flowcore: cannot reach the flowcore server at {} ({why}); {instead}",
            self.url()
        );
    }

    /// Keeps a batch in the outbox (there is one: `outboxing` is only set with one).
    fn keep(&mut self, id: Uuid, body: &[u8]) {
        let Some(outbox) = &self.outbox else {
            return;
        };
        if let Err(e) = outbox.put(id, body) {
            eprintln!(
                "flowcore: cannot keep {} bytes of events in the outbox {}: {e}; they are lost",
                body.len(),
                outbox.dir().display()
            );
        }
    }

    /// The server refused a batch for good: kept in the outbox's `rejected/` for inspection.
    fn refused(&mut self, id: Uuid, body: &[u8], why: &str) {
        let kept = match &self.outbox {
            Some(outbox) => outbox
                .put(id, body)
                .and_then(|()| outbox.reject(&outbox.dir().join(format!("{id}.json"))))
                .map(|path| format!("kept in {}", path.display()))
                .unwrap_or_else(|e| format!("not kept: {e}")),
            None => "dropped".into(),
        };
        eprintln!(
            "flowcore: the server at {} refused a batch of events ({why}); {kept}",
            self.url()
        );
    }

    /// Sends what the outbox holds, oldest first, each once: stops at the first batch the server
    /// does not take (to try again later). `now`: try even if the last try was just now.
    fn drain(&mut self, now: bool) {
        let Some(outbox) = self.outbox.clone() else {
            return;
        };
        if !now && Instant::now() < self.next_drain {
            return;
        }
        let retry_later = |sender: &mut Sender| {
            sender.next_drain = Instant::now() + sender.drain_delay;
            sender.drain_delay = (sender.drain_delay * 2).min(OUTBOX_RETRY_MAX);
        };
        // Another process drains this outbox: it sends ours too, in order.
        let Ok(Some(_lock)) = outbox.try_lock() else {
            retry_later(self);
            return;
        };
        let mut sent = 0;
        loop {
            let pending = outbox.pending().unwrap_or_default();
            if pending.is_empty() {
                break;
            }
            for path in pending {
                let Ok(body) = std::fs::read(&path) else {
                    // Sent and removed by a process that drained before we took the lock.
                    continue;
                };
                match self.send(body) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&path);
                        sent += 1;
                    }
                    Err(Failure::Transient(_)) => {
                        retry_later(self);
                        return;
                    }
                    Err(Failure::TooLarge) => {
                        self.refused_kept(&outbox, &path, "over the size limit")
                    }
                    Err(Failure::Rejected(why)) => self.refused_kept(&outbox, &path, &why),
                }
            }
        }
        self.outboxing = false;
        self.contacted = true;
        self.drain_delay = Duration::from_millis(100);
        if sent > 0 {
            eprintln!(
                "flowcore: the flowcore server at {} answers again: sent the {sent} batch(es) of \
                 events kept in {}",
                self.url(),
                outbox.dir().display()
            );
        }
    }

    fn refused_kept(&self, outbox: &Outbox, path: &std::path::Path, why: &str) {
        let kept = outbox
            .reject(path)
            .map(|p| format!("moved to {}", p.display()))
            .unwrap_or_else(|e| format!("left in place: {e}"));
        eprintln!(
            "flowcore: the server at {} refused a batch kept in the outbox ({why}); {kept}",
            self.url()
        );
    }
}
