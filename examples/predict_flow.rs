//! The course's batch prediction flow: load the model + vectorizer, process a month without target,
//! predict, write the predictions.
//!
//! ```text
//! cargo run --example train_flow
//! cargo run --example predict_flow -- --model results/trip_duration_notebook.model --out predictions.parquet
//! cargo run --release --example predict_flow -- --stream --data year.parquet --model m.model --out p.parquet
//! ```
//! `--stream` runs `predict_stream_flow`: read, predict and write a chunk of rows at a time.
//! `--json FILE` writes `{"state":"Completed","n_predictions":..,"mean_prediction":..,"out":".."}`,
//! or `{"state":"Failed","message":".."}`; the exit code is 0 only if the flow completed.

mod common;

use std::path::PathBuf;

use clap::Parser;
use mlpipeline::flows::{predict_flow, predict_stream_flow, PredictParameters};
use serde_json::json;

#[derive(Parser)]
#[command(about = "Predict trip durations with a saved model, as a tracked flow run")]
struct Cli {
    /// The month to predict (parquet or CSV). Default: the bundled 2021-03 sample.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The model artifact written by train_flow.
    #[arg(long)]
    model: PathBuf,
    /// The predictions file (.parquet or .csv).
    #[arg(long)]
    out: PathBuf,
    /// Also write the outcome as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Stream: bounded memory for an input of any size (`predict_stream_flow`).
    #[arg(long)]
    stream: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mlpipeline::memory::return_large_buffers();
    let cli = Cli::parse();
    let params = PredictParameters {
        data_path: cli
            .data
            .unwrap_or_else(|| common::sample("2021-03", "parquet")),
        model_path: cli.model,
        out_path: cli.out,
    };
    let state = if cli.stream {
        predict_stream_flow.run(params).await
    } else {
        predict_flow.run(params).await
    };
    common::print_record(&state);
    let report = match state.output() {
        Some(r) => {
            println!(
                "{} predictions, mean {:.4} minutes, written to {}",
                r.n_predictions,
                r.mean_prediction,
                r.out.display()
            );
            json!({
                "state": state.state().name,
                "n_predictions": r.n_predictions,
                "mean_prediction": r.mean_prediction,
                "out": r.out,
            })
        }
        None => common::failure_json(&state),
    };
    common::finish(&state, &report, cli.json.as_deref())
}
