//! Backpressure: how far the record may fall behind the runtime.
//!
//! Reporting never does I/O on a run's thread, but a flow of a million tasks produces events faster
//! than a database writes them; without a bound, the events waiting to be written grow with the
//! flow (gigabytes at a million tasks). So the events sent to the reporter and not yet handed on,
//! plus those handed to a recording thread and not yet written, are counted; past [`LIMIT`] a run's
//! thread that reports pauses until the record has caught up by half. The flow's wall time does
//! not change (its end waits for the record anyway); its memory stops growing with its length.
//!
//! A record that makes no progress for a second (a server that does not answer, say) is not
//! waited for: waiting stops for ten seconds, and events queue in memory as before.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Events waiting (in the reporter's channel, or in a recording thread's queue) past which a
/// reporting run thread pauses.
pub(crate) const LIMIT: usize = 1 << 17;

/// How often (in events sent) a sender looks at the backlog.
const CHECK_EVERY: usize = 1024;

/// A record that gains nothing for this long is not waited for.
const STALLED_AFTER: Duration = Duration::from_secs(1);

/// How long waiting stays off after a stall.
const STALL_BYPASS: Duration = Duration::from_secs(10);

/// Events sent to the reporter and not yet handed to the sinks.
static QUEUED: AtomicUsize = AtomicUsize::new(0);
/// Events handed to recording threads and not yet consumed.
static UNWRITTEN: AtomicUsize = AtomicUsize::new(0);
/// Until when (milliseconds since [`epoch`]) no sender waits.
static BYPASS_UNTIL_MS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the threads that drain the backlog (the reporter, recording threads): they never
    /// wait on it.
    static DRAINS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

/// Marks the calling thread as one that drains the backlog.
pub(crate) fn mark_draining_thread() {
    DRAINS.with(|d| d.set(true));
}

/// An event was sent to the reporter (every so often, the sender waits while the record is far
/// behind).
pub(crate) fn sent() {
    let n = QUEUED.fetch_add(1, Ordering::Relaxed);
    if n.is_multiple_of(CHECK_EVERY) {
        wait_while_behind();
    }
}

/// The reporter handed `n` sent events to the sinks.
pub(crate) fn handed(n: usize) {
    QUEUED.fetch_sub(n, Ordering::Relaxed);
}

/// `n` events were queued for a recording thread.
pub(crate) fn spooled(n: usize) {
    UNWRITTEN.fetch_add(n, Ordering::Relaxed);
}

/// A recording thread consumed `n` queued events.
pub(crate) fn consumed(n: usize) {
    UNWRITTEN.fetch_sub(n, Ordering::Relaxed);
}

/// The events waiting now.
pub(crate) fn behind() -> usize {
    QUEUED
        .load(Ordering::Relaxed)
        .saturating_add(UNWRITTEN.load(Ordering::Relaxed))
}

fn wait_while_behind() {
    if behind() <= LIMIT || DRAINS.with(|d| d.get()) {
        return;
    }
    if now_ms() < BYPASS_UNTIL_MS.load(Ordering::Relaxed) {
        return;
    }
    let mut least = behind();
    let mut progressed = Instant::now();
    while least > LIMIT / 2 {
        std::thread::sleep(Duration::from_micros(500));
        let now = behind();
        if now < least {
            least = now;
            progressed = Instant::now();
        } else if progressed.elapsed() >= STALLED_AFTER {
            BYPASS_UNTIL_MS.store(
                now_ms() + STALL_BYPASS.as_millis() as u64,
                Ordering::Relaxed,
            );
            return;
        }
    }
}
