//! The course's training flow: process two months, train, evaluate, save the model + vectorizer.
//!
//! ```text
//! cargo run --example train_flow                      # the bundled sample, results in ./results/
//! cargo run --example train_flow -- --encoding onehot --runner sequential --json out.json
//! cargo run --release --example train_flow -- --train jan.parquet --test feb.parquet
//! cargo run --release --example train_flow -- --download 2021-01    # fetch 2021-01 and 2021-02 first
//! ```
//! Prints each task run's final state and the flow run's, and exits 0 only if the flow completed.
//! `--json FILE` writes `{"state":"Completed","n_train":..,"n_test":..,"n_features":..,
//! "rmse_train":..,"rmse_test":..,"model_path":"..","wall_s":..}`, or `{"state":"Failed","message":".."}`.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use flowcore::TaskRunner;
use mlpipeline::data::TaxiColor;
use mlpipeline::flows::{download_flow, train_flow, TrainParameters};
use mlpipeline::processing::Encoding;
use serde_json::json;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EncodingArg {
    /// Three numeric features, as the notebook literally does.
    Notebook,
    /// One-hot `column=value` features, as the course's later solution does.
    Onehot,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RunnerArg {
    /// Submitted tasks run one at a time.
    Sequential,
    /// Submitted tasks (and the two months' processing) run concurrently.
    Concurrent,
}

#[derive(Parser)]
#[command(about = "Train the trip-duration model as a tracked flow run")]
struct Cli {
    /// Training month (parquet or CSV). Default: the bundled 2021-01 sample.
    #[arg(long)]
    train: Option<PathBuf>,
    /// Evaluation month (parquet or CSV). Default: the bundled 2021-02 sample.
    #[arg(long)]
    test: Option<PathBuf>,
    /// Categorical encoding.
    #[arg(long, value_enum, default_value_t = EncodingArg::Notebook)]
    encoding: EncodingArg,
    /// Directory for the model artifact.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Task runner.
    #[arg(long, value_enum, default_value_t = RunnerArg::Concurrent)]
    runner: RunnerArg,
    /// Also write the outcome as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Download this TLC month (YYYY-MM) and the next one first, and train/test on them.
    /// `MLPIPELINE_TLC_BASE_URL` overrides the public URL (a mirror).
    #[arg(long, value_name = "YYYY-MM")]
    download: Option<String>,
    /// Taxi color of the months to download.
    #[arg(long, value_enum, default_value_t = ColorArg::Yellow)]
    color: ColorArg,
    /// Where downloaded months are kept (files already there are not fetched again).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorArg {
    /// Yellow taxis (`tpep_` timestamps).
    Yellow,
    /// Green taxis (`lpep_` timestamps).
    Green,
}

/// Downloads `month` and the month after it; returns their paths, or exits with the failure.
async fn download(
    cli: &Cli,
    month: &str,
    json: Option<&PathBuf>,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let color = match cli.color {
        ColorArg::Yellow => TaxiColor::Yellow,
        ColorArg::Green => TaxiColor::Green,
    };
    let months = match mlpipeline::download::next_month(month) {
        Ok(next) => vec![month.to_string(), next],
        Err(e) => vec![month.to_string(), e.to_string()],
    };
    let state = download_flow
        .run(
            months,
            color,
            cli.data_dir.clone(),
            mlpipeline::download::base_url(),
        )
        .await;
    common::print_record(&state);
    match state.result() {
        Ok(paths) => Ok((paths[0].clone(), paths[1].clone())),
        Err(e) => {
            if let Some(path) = json {
                common::write_json(path, &json!({"state": "Failed", "message": e.message()}))?;
            }
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (train, test) = match &cli.download {
        Some(month) => {
            let (a, b) = download(&cli, month, cli.json.as_ref()).await?;
            (Some(a), Some(b))
        }
        None => (cli.train.clone(), cli.test.clone()),
    };
    let params = TrainParameters {
        encoding: match cli.encoding {
            EncodingArg::Notebook => Encoding::Notebook,
            EncodingArg::Onehot => Encoding::OneHot,
        },
        out_dir: cli.out.clone(),
        ..TrainParameters::new(
            train.unwrap_or_else(|| common::sample("2021-01", "parquet")),
            test.unwrap_or_else(|| common::sample("2021-02", "parquet")),
        )
    };
    let runner = match cli.runner {
        RunnerArg::Sequential => TaskRunner::Sequential,
        RunnerArg::Concurrent => TaskRunner::Concurrent,
    };

    let start = Instant::now();
    let state = flowcore::runner::with_task_runner(runner, train_flow.run(params)).await;
    let wall_s = start.elapsed().as_secs_f64();
    common::print_record(&state);

    let report = match state.output() {
        Some(r) => {
            println!(
                "{} train rows, {} test rows, {} features: RMSE train {:.6}, test {:.6}; model saved to {}",
                r.n_train,
                r.n_test,
                r.n_features,
                r.rmse_train,
                r.rmse_test,
                r.model_path.display()
            );
            json!({
                "state": state.state().name,
                "n_train": r.n_train,
                "n_test": r.n_test,
                "n_features": r.n_features,
                "rmse_train": r.rmse_train,
                "rmse_test": r.rmse_test,
                "model_path": r.model_path,
                "wall_s": wall_s,
            })
        }
        None => common::failure_json(&state),
    };
    common::finish(&state, &report, cli.json.as_deref())
}
