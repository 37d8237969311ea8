//! The course's training flow: process two months, train, evaluate, save the model + vectorizer.
//!
//! ```text
//! cargo run --example train_flow                      # the bundled sample, results in ./results/
//! cargo run --example train_flow -- --encoding onehot --runner sequential --json out.json
//! cargo run --release --example train_flow -- --train jan.parquet --test feb.parquet
//! cargo run --release --example train_flow -- --download 2021-01    # fetch 2021-01 and 2021-02 first
//! cargo run --release --example train_flow -- --train 2021-01..2021-06 --test 2021-07 --data-dir data
//! cargo run --release --example train_flow -- --train 2021-01,2021-03 --test 2021-04 --download
//! cargo run --release --example train_flow -- --train 'data/*_2021-0[1-6].parquet' --test data/jul.parquet
//! ```
//! Several training months (or `--stream`) run `train_stream_flow`: each month streamed row group by
//! row group, in memory bounded by the chunk size rather than the rows.
//! Prints each task run's final state and the flow run's, and exits 0 only if the flow completed.
//! `--json FILE` writes `{"state":"Completed","n_train":..,"n_test":..,"n_features":..,
//! "rmse_train":..,"rmse_test":..,"model_path":"..","wall_s":..}`, or `{"state":"Failed","message":".."}`.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use flowcore::TaskRunner;
use mlpipeline::data::TaxiColor;
use mlpipeline::flows::{
    download_flow, train_flow, train_stream_flow, StreamTrainParameters, TrainParameters,
};
use mlpipeline::months::{months, parse_data_spec, resolve, DataItem};
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
    /// Submitted tasks run concurrently (the model's fit beside the test month's processing).
    Concurrent,
}

#[derive(Parser)]
#[command(about = "Train the trip-duration model as a tracked flow run")]
struct Cli {
    /// Training data: a file, a month in `--data-dir` (`2021-01`), a month range (`2021-01..2021-06`),
    /// a comma-separated list of those, or a file glob. Default: the bundled 2021-01 sample.
    #[arg(long, value_name = "SPEC")]
    train: Option<String>,
    /// Evaluation data: a file or a month in `--data-dir`. Default: the bundled 2021-02 sample.
    #[arg(long, value_name = "SPEC")]
    test: Option<String>,
    /// Stream the data (the `train_stream_flow`), also for one training month; always on with
    /// several.
    #[arg(long)]
    stream: bool,
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
    /// Download this TLC month (YYYY-MM) and the next one first, and train/test on them; without a
    /// value, download the months `--train` and `--test` name. `MLPIPELINE_TLC_BASE_URL` overrides
    /// the public URL (a mirror).
    #[arg(long, value_name = "YYYY-MM", num_args = 0..=1, default_missing_value = "")]
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

fn color(cli: &Cli) -> TaxiColor {
    match cli.color {
        ColorArg::Yellow => TaxiColor::Yellow,
        ColorArg::Green => TaxiColor::Green,
    }
}

/// Exits with `message` (and the JSON failure, if asked for).
fn fail(message: &str, json: Option<&PathBuf>) -> anyhow::Result<std::convert::Infallible> {
    if let Some(path) = json {
        common::write_json(path, &json!({"state": "Failed", "message": message}))?;
    }
    eprintln!("{message}");
    std::process::exit(1);
}

/// Downloads `months` into the data directory; returns their paths, or exits with the failure.
async fn download(cli: &Cli, months: Vec<String>) -> anyhow::Result<Vec<PathBuf>> {
    let state = download_flow
        .run(
            months,
            color(cli),
            cli.data_dir.clone(),
            mlpipeline::download::base_url(),
        )
        .await;
    common::print_record(&state);
    match state.result() {
        Ok(paths) => Ok(paths),
        Err(e) => match fail(e.message(), cli.json.as_ref())? {},
    }
}

/// The training files and the test file the flags name (downloading first if asked).
async fn data_files(cli: &Cli) -> anyhow::Result<(Vec<PathBuf>, PathBuf)> {
    let json = cli.json.as_ref();
    if let Some(month) = cli.download.as_deref().filter(|m| !m.is_empty()) {
        let months = match mlpipeline::download::next_month(month) {
            Ok(next) => vec![month.to_string(), next],
            Err(e) => vec![month.to_string(), e.to_string()],
        };
        let paths = download(cli, months).await?;
        return Ok((vec![paths[0].clone()], paths[1].clone()));
    }
    let parse = |name, spec: &Option<String>| match spec {
        Some(spec) => parse_data_spec(name, spec),
        None => Ok(Vec::new()),
    };
    let (train, test) = match (parse("train", &cli.train), parse("test", &cli.test)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => match fail(&e.to_string(), json)? {},
    };
    if test.len() > 1 {
        match fail(
            "invalid parameter `test`: name one evaluation month or file",
            json,
        )? {}
    }
    if cli.download.is_some() {
        let mut months = months(&train);
        months.extend(mlpipeline::months::months(&test));
        if !months.is_empty() {
            download(cli, months).await?;
        }
    }
    let resolve = |name, items: &[DataItem]| resolve(name, items, &cli.data_dir, color(cli));
    let train = match resolve("train", &train) {
        Ok(files) if files.is_empty() => vec![common::sample("2021-01", "parquet")],
        Ok(files) => files,
        Err(e) => match fail(&e.to_string(), json)? {},
    };
    let test = match resolve("test", &test) {
        Ok(files) => files
            .into_iter()
            .next()
            .unwrap_or_else(|| common::sample("2021-02", "parquet")),
        Err(e) => match fail(&e.to_string(), json)? {},
    };
    Ok((train, test))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mlpipeline::memory::return_large_buffers();
    let cli = Cli::parse();
    let (train, test) = data_files(&cli).await?;
    let encoding = match cli.encoding {
        EncodingArg::Notebook => Encoding::Notebook,
        EncodingArg::Onehot => Encoding::OneHot,
    };
    let streamed = cli.stream || train.len() > 1;
    let runner = match cli.runner {
        RunnerArg::Sequential => TaskRunner::Sequential,
        RunnerArg::Concurrent => TaskRunner::Concurrent,
    };

    let start = Instant::now();
    let state = if streamed {
        let params = StreamTrainParameters {
            encoding,
            out_dir: cli.out.clone(),
            ..StreamTrainParameters::new(train, test)
        };
        flowcore::runner::with_task_runner(runner, train_stream_flow.run(params)).await
    } else {
        let params = TrainParameters {
            encoding,
            out_dir: cli.out.clone(),
            ..TrainParameters::new(train[0].clone(), test)
        };
        flowcore::runner::with_task_runner(runner, train_flow.run(params)).await
    };
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
