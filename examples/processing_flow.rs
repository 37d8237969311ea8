//! The processing flow alone on the bundled sample, under both task runners.
//!
//! ```text
//! cargo run --example processing_flow
//! ```

mod common;

use std::time::Instant;

use flowcore::TaskRunner;
use mlpipeline::flows::processing;
use mlpipeline::processing::{Encoding, ProcessOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    for runner in [TaskRunner::Sequential, TaskRunner::Concurrent] {
        for (with_target, month) in [(true, "2021-01"), (false, "2021-03")] {
            let start = Instant::now();
            let state = flowcore::runner::with_task_runner(
                runner,
                processing.run(
                    common::sample(month, "parquet"),
                    with_target,
                    ProcessOptions::with_encoding(Encoding::OneHot),
                ),
            )
            .await;
            let elapsed = start.elapsed();
            common::print_record(&state);
            let data = state.result()?;
            println!(
                "{runner:?} runner, {month}, with_target = {with_target}: {} rows kept in {elapsed:.1?}",
                data.len()
            );
        }
    }
    Ok(())
}
