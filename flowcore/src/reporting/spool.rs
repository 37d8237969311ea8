//! A spool: batches of events handed from the reporter thread to a sink's own thread, which consumes
//! them in bulk (a database transaction, an HTTP request) while the reporter moves on. A flush waits
//! until everything spooled before it was consumed.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::schemas::events::Event;

#[derive(Default)]
struct Queue {
    batches: Vec<Arc<[Event]>>,
    /// Events waiting.
    pending: usize,
    /// Events ever spooled, and events consumed: a flush waits for `done` to reach what was
    /// `queued` when it started.
    queued: u64,
    done: u64,
    flush_wanted: bool,
    oldest: Option<Instant>,
    /// The spool was dropped: the thread consumes what is left and stops.
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// The pending events that start a write without waiting for `at_most`.
    at_least: usize,
    wake: Condvar,
    progress: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a spool's thread does with the batches.
pub(crate) trait Consumer {
    /// Called once on the spool's thread before anything is consumed (batches may be spooled
    /// meanwhile): where a consumer gets ready (connects) while the runs it will record are
    /// starting, not after their first batch.
    fn start(&mut self) {}

    /// Consumes the batches that waited, in order.
    fn consume(&mut self, batches: Vec<Arc<[Event]>>);
}

impl<F: FnMut(Vec<Arc<[Event]>>)> Consumer for F {
    fn consume(&mut self, batches: Vec<Arc<[Event]>>) {
        self(batches)
    }
}

/// The spooling end; the consuming end is a thread started by [`Spool::start`].
pub(crate) struct Spool {
    shared: Arc<Shared>,
}

impl Spool {
    /// Starts a thread named `name` that calls `consume` with what waits, once `at_least` events wait,
    /// the oldest has waited `at_most`, a flush asks, or the spool is dropped.
    pub(crate) fn start<C>(
        name: &str,
        at_least: usize,
        at_most: Duration,
        consumer: C,
    ) -> std::io::Result<Spool>
    where
        C: Consumer + Send + 'static,
    {
        let mut consumer = consumer;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            at_least,
            wake: Condvar::new(),
            progress: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                super::backlog::mark_draining_thread();
                let shared = thread_shared;
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| consumer.start()))
                    .is_err()
                {
                    eprintln!("flowcore: a recording thread failed as it started");
                }
                loop {
                    let (batches, n) = {
                        let mut queue = shared.lock();
                        loop {
                            if queue.pending > 0
                                && (queue.flush_wanted
                                    || queue.closed
                                    || queue.pending >= at_least
                                    || queue.oldest.is_some_and(|t| t.elapsed() >= at_most))
                            {
                                break;
                            }
                            if queue.pending == 0 {
                                if queue.closed {
                                    return;
                                }
                                queue.flush_wanted = false;
                                queue = shared.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
                            } else {
                                // Until the oldest has waited `at_most` (pushes do not wake
                                // the thread before `at_least`).
                                let left = queue
                                    .oldest
                                    .map_or(at_most, |t| at_most.saturating_sub(t.elapsed()));
                                queue = shared
                                    .wake
                                    .wait_timeout(queue, left)
                                    .unwrap_or_else(|e| e.into_inner())
                                    .0;
                            }
                        }
                        queue.oldest = None;
                        let n = std::mem::take(&mut queue.pending);
                        (std::mem::take(&mut queue.batches), n)
                    };
                    // A panicking consumer must not leave a flush waiting forever.
                    let consumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        consumer.consume(batches)
                    }));
                    if consumed.is_err() {
                        eprintln!(
                            "flowcore: a recording thread failed; some events were not recorded"
                        );
                    }
                    super::backlog::consumed(n);
                    shared.lock().done += n as u64;
                    shared.progress.notify_all();
                }
            })?;
        Ok(Spool { shared })
    }

    /// Hands a batch to the thread. Never waits on it.
    pub(crate) fn push(&self, batch: &Arc<[Event]>) {
        if batch.is_empty() {
            return;
        }
        let mut queue = self.shared.lock();
        queue.batches.push(Arc::clone(batch));
        let before = queue.pending;
        queue.pending += batch.len();
        queue.queued += batch.len() as u64;
        super::backlog::spooled(batch.len());
        queue.oldest.get_or_insert_with(Instant::now);
        // The thread waits without a deadline only while nothing is pending, and with `at_most`
        // as its deadline otherwise: it needs waking when the first events arrive and when enough
        // are pending, not at every batch (a wake-up per batch was a context switch per few tasks).
        let at_least = self.shared.at_least;
        if before == 0 || (before < at_least && queue.pending >= at_least) {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until everything pushed before this call was consumed.
    pub(crate) fn flush(&self) {
        let mut queue = self.shared.lock();
        let target = queue.queued;
        queue.flush_wanted = true;
        self.shared.wake.notify_one();
        while queue.done < target {
            queue = self
                .shared
                .progress
                .wait(queue)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

/// The events of several batches, in order, without copying them.
pub(crate) fn flatten(batches: &[Arc<[Event]>]) -> Vec<&Event> {
    batches.iter().flat_map(|b| b.iter()).collect()
}
