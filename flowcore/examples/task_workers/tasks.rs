//! The tasks the task-worker example serves (the integration tests send runs of the same tasks by
//! name, from their own process).

use std::io::Write;
use std::time::Duration;

use flowcore::prelude::*;

/// Appends one line to `path`, in one write (lines from several processes never interleave).
pub fn note(path: &str, line: &str) {
    if path.is_empty() {
        return;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("the ran file opens");
    f.write_all(format!("{line}\n").as_bytes())
        .expect("the ran file takes a line");
}

/// Squares a number.
#[task]
pub fn square(x: i64) -> i64 {
    x * x
}

/// Adds two numbers.
#[task]
pub fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Says which process ran it (and notes `i pid` in `ran_file`).
#[task]
pub fn whoami(i: u32, ran_file: String) -> u32 {
    note(&ran_file, &format!("{i} {}", std::process::id()));
    std::process::id()
}

/// Notes `start i pid`, sleeps `ms`, notes `end i pid`; run again once when its worker is lost.
#[task(retries = 1)]
pub async fn slow(i: u32, ms: u64, ran_file: String) -> u32 {
    note(&ran_file, &format!("start {i} {}", std::process::id()));
    tokio::time::sleep(Duration::from_millis(ms)).await;
    note(&ran_file, &format!("end {i} {}", std::process::id()));
    i
}

/// [`slow`] without retries: a lost worker leaves it `Crashed`.
#[task]
pub async fn slow_once(i: u32, ms: u64, ran_file: String) -> u32 {
    note(&ran_file, &format!("start {i} {}", std::process::id()));
    tokio::time::sleep(Duration::from_millis(ms)).await;
    note(&ran_file, &format!("end {i} {}", std::process::id()));
    i
}

/// Fails on its first attempt, succeeds on its second (one retry).
#[task(retries = 1, retry_delay = 0)]
pub fn flaky(ran_file: String) -> Result<String, FlowError> {
    let earlier = std::fs::read_to_string(&ran_file).unwrap_or_default();
    note(&ran_file, "attempt");
    if earlier.is_empty() {
        Err(anyhow::anyhow!("first attempt fails"))
    } else {
        Ok("second attempt".into())
    }
}

/// Does nothing (the throughput benchmark's task).
#[task]
pub fn noop(i: u64) -> u64 {
    i
}

/// Every task above, as a worker serves them.
pub fn all() -> Vec<flowcore::task_worker::RemoteTask> {
    vec![
        square::remote(),
        add::remote(),
        whoami::remote(),
        slow::remote(),
        slow_once::remote(),
        flaky::remote(),
        noop::remote(),
    ]
}
