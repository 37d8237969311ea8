//! Fan-out memory: one task returns a large value that three consumers hold for a while. With
//! `Arc<T>` parameters (`--mode arc`) they share the producer's value; with plain `T` parameters
//! (`--mode clone`) all but the last get a clone. Prints peak RSS growth against the value's size.
//!
//! ```text
//! cargo run --release --example fanout -- --mb 200 --mode arc
//! ```

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use flowcore::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Consumers take `Arc<Vec<u8>>`: shared.
    Arc,
    /// Consumers take `Vec<u8>`: cloned for all but the last.
    Clone,
}

#[derive(Parser)]
struct Args {
    /// The value's size, in MB.
    #[arg(long, default_value_t = 200)]
    mb: usize,
    /// How the consumers take it.
    #[arg(long, value_enum, default_value_t = Mode::Arc)]
    mode: Mode,
}

/// Peak resident set size so far, in bytes (Linux: `VmHWM`).
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[task]
fn produce(mb: usize) -> Vec<u8> {
    // Touched, so the pages are resident.
    vec![1u8; mb * 1024 * 1024]
}

#[task]
async fn hold_shared(data: Arc<Vec<u8>>) -> usize {
    tokio::time::sleep(Duration::from_millis(300)).await;
    data.len()
}

#[task]
async fn hold_owned(data: Vec<u8>) -> usize {
    tokio::time::sleep(Duration::from_millis(300)).await;
    data.len()
}

#[flow(validate_parameters = false)]
async fn fan_out(mb: usize, shared: bool) -> Result<usize, FlowError> {
    let value = produce(mb).submit();
    let readers: Vec<TaskFuture<usize>> = if shared {
        (0..3).map(|_| hold_shared(&value).submit()).collect()
    } else {
        (0..3).map(|_| hold_owned(&value).submit()).collect()
    };
    drop(value);
    let mut total = 0;
    for reader in readers {
        total += reader.await?;
    }
    Ok(total)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let before = peak_rss();
    let state = fan_out.run(args.mb, args.mode == Mode::Arc).await;
    let total = state.result()?;
    let grown = peak_rss().saturating_sub(before);
    let value = (args.mb * 1024 * 1024) as f64;
    println!(
        "{}",
        serde_json::json!({
            "mode": format!("{:?}", args.mode).to_lowercase(),
            "value_mb": args.mb,
            "consumers": 3,
            "read_bytes": total,
            "peak_rss_growth_mb": grown as f64 / 1048576.0,
            "ratio_to_value": grown as f64 / value,
        })
    );
    Ok(())
}
