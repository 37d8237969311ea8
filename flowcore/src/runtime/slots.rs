//! Tag concurrency limits, the runtime's side: before a task run with tags runs, it takes a slot of
//! every limited tag it has (waiting `Pending` named `AwaitingConcurrencySlot` while one is full),
//! and gives them back at its final state.
//!
//! Slots live where the record does — the server when an API URL is set, else the embedded (or
//! configured) database — so processes sharing a home or a server share the limits. A process
//! holds its slots under a lease (`FLOWCORE_CONCURRENCY_LEASE` seconds, default 30) that a thread
//! of its own renews; a process that dies loses its slots when the lease runs out. With recording
//! off there is no shared record, and limits are not enforced. Tasks without tags never come here.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::run_record::TaskRunMeta;
use super::state::{State, StateName};
use crate::schemas::concurrency::SlotAnswer;

/// How long slots are held without a renewal.
fn lease() -> Duration {
    static LEASE: OnceLock<Duration> = OnceLock::new();
    *LEASE.get_or_init(|| {
        std::env::var("FLOWCORE_CONCURRENCY_LEASE")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map_or(Duration::from_secs(30), Duration::from_secs_f64)
    })
}

/// This process's lease id.
fn holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| format!("pid{}-{}", std::process::id(), Uuid::now_v7().simple()))
}

enum Request {
    Acquire(
        Uuid,
        Vec<String>,
        oneshot::Sender<Result<SlotAnswer, String>>,
    ),
    /// Give a task run's slots back; the reply says when that is done.
    Release(Uuid, Option<oneshot::Sender<()>>),
}

/// Where slots are kept, as the settings in force say.
enum Backend {
    #[cfg(feature = "client")]
    Api(crate::api_client::ApiClient),
    #[cfg(feature = "store")]
    Db(crate::store::Store),
    /// Recording is off (or this build has no store): nothing to share limits through.
    Nowhere,
}

impl Backend {
    async fn open() -> Result<Backend, String> {
        if crate::reporting::destination::disabled() {
            return Ok(Backend::Nowhere);
        }
        #[cfg(feature = "client")]
        if let Ok(Some(url)) = crate::config::get("api-url") {
            if !url.is_empty() {
                return Ok(Backend::Api(crate::api_client::ApiClient::from_settings()));
            }
        }
        #[cfg(feature = "store")]
        {
            Ok(Backend::Db(
                crate::store::Store::connect_configured().await?,
            ))
        }
        #[cfg(not(feature = "store"))]
        Ok(Backend::Nowhere)
    }

    async fn acquire(&self, id: Uuid, tags: &[String]) -> Result<SlotAnswer, String> {
        let until = chrono::Utc::now() + chrono::Duration::from_std(lease()).unwrap_or_default();
        match self {
            #[cfg(feature = "client")]
            Backend::Api(client) => {
                let request = crate::schemas::concurrency::SlotRequest {
                    task_run_id: id,
                    tags: tags.to_vec(),
                    holder: holder().to_string(),
                    lease_seconds: lease().as_secs().max(1) as i64,
                };
                client
                    .acquire_slots(&request)
                    .await
                    .map_err(|e| e.to_string())
            }
            #[cfg(feature = "store")]
            Backend::Db(store) => store
                .acquire_slots(id, tags, holder(), until)
                .await
                .map_err(|e| e.to_string()),
            Backend::Nowhere => {
                let _ = until;
                Ok(SlotAnswer {
                    acquired: true,
                    full: Vec::new(),
                })
            }
        }
    }

    async fn release(&self, id: Uuid) -> Result<(), String> {
        match self {
            #[cfg(feature = "client")]
            Backend::Api(client) => client
                .release_slots(id, holder())
                .await
                .map_err(|e| e.to_string()),
            #[cfg(feature = "store")]
            Backend::Db(store) => store.release_slots(id).await.map_err(|e| e.to_string()),
            Backend::Nowhere => Ok(()),
        }
    }

    async fn renew(&self) -> Result<(), String> {
        let until = chrono::Utc::now() + chrono::Duration::from_std(lease()).unwrap_or_default();
        match self {
            #[cfg(feature = "client")]
            Backend::Api(client) => client
                .renew_slots(holder(), lease().as_secs().max(1) as i64)
                .await
                .map_err(|e| e.to_string()),
            #[cfg(feature = "store")]
            Backend::Db(store) => store
                .renew_slots(holder(), until)
                .await
                .map_err(|e| e.to_string()),
            Backend::Nowhere => {
                let _ = until;
                Ok(())
            }
        }
    }
}

/// The slots thread: owns the connection (on a runtime of its own, so no caller's runtime ends
/// under it), serves acquisitions and releases in order, and renews the lease while it holds slots.
fn service() -> &'static mpsc::UnboundedSender<Request> {
    static SERVICE: OnceLock<mpsc::UnboundedSender<Request>> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
        std::thread::Builder::new()
            .name("flowcore-slots".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the slots thread");
                runtime.block_on(async move {
                    // (settings generation, backend): reopened when settings change from code.
                    let mut backend: Option<(u64, Backend)> = None;
                    let mut held: usize = 0;
                    let mut renew = tokio::time::interval(lease() / 3);
                    loop {
                        let request = tokio::select! {
                            request = rx.recv() => match request {
                                Some(request) => request,
                                None => return,
                            },
                            _ = renew.tick() => {
                                if let (true, Some((_, b))) = (held > 0, &backend) {
                                    let _ = b.renew().await;
                                }
                                continue;
                            }
                        };
                        let generation = crate::config::process_generation();
                        if backend.as_ref().is_none_or(|(g, _)| *g != generation) {
                            match Backend::open().await {
                                Ok(b) => backend = Some((generation, b)),
                                Err(e) => {
                                    if let Request::Acquire(_, _, reply) = request {
                                        let _ = reply.send(Err(e));
                                    }
                                    continue;
                                }
                            }
                        }
                        let Some((_, b)) = &backend else { continue };
                        match request {
                            Request::Acquire(id, tags, reply) => {
                                let answer = b.acquire(id, &tags).await;
                                if matches!(&answer, Ok(a) if a.acquired) {
                                    held += 1;
                                }
                                let _ = reply.send(answer);
                            }
                            Request::Release(id, done) => {
                                held = held.saturating_sub(1);
                                if let Err(e) = b.release(id).await {
                                    eprintln!("flowcore: cannot release the concurrency slots of task run {id}: {e}");
                                }
                                if let Some(done) = done {
                                    let _ = done.send(());
                                }
                            }
                        }
                    }
                });
            })
            .expect("cannot start the flowcore slots thread");
        tx
    })
}

/// The slots a task run holds: given back with [`Held::release`] at the run's final state, or,
/// should its job be dropped half-way, when this is dropped.
pub(crate) struct Held(Option<Uuid>);

impl Held {
    /// Gives the slots back and waits until they are free (so a process that ends right after its
    /// last task leaves none behind).
    pub(crate) async fn release(mut self) {
        if let Some(id) = self.0.take() {
            let (done, freed) = oneshot::channel();
            if service().send(Request::Release(id, Some(done))).is_ok() {
                let _ = freed.await;
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(id) = self.0.take() {
            let _ = service().send(Request::Release(id, None));
        }
    }
}

/// Waits until task run `meta` holds a slot of every limited tag it has. `None` when it needs none
/// (or limits cannot be reached: then the run goes on, with a warning, rather than hang).
pub(crate) async fn wait_for_slots(meta: &TaskRunMeta) -> Option<Held> {
    let id = meta.record.id();
    let mut waiting = false;
    loop {
        let (reply, answer) = oneshot::channel();
        service()
            .send(Request::Acquire(id, meta.tags().to_vec(), reply))
            .ok()?;
        match answer.await {
            Ok(Ok(answer)) if answer.acquired => return Some(Held(Some(id))),
            Ok(Ok(answer)) => {
                if !waiting {
                    waiting = true;
                    let _ = meta.record.propose(
                        State::of(StateName::AwaitingConcurrencySlot).with_message(format!(
                            "Waiting for a slot of tag(s) {}: the concurrency limit is reached",
                            answer.full.join(", ")
                        )),
                    );
                }
                let pause = 50 + fastrand::u64(0..150);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Ok(Err(e)) => {
                eprintln!(
                    "flowcore: task run '{}' runs without its concurrency slots: {e}",
                    meta.record.name()
                );
                return None;
            }
            Err(_) => return None,
        }
    }
}
