//! End-to-end measure of the notebook's pipeline on two months: load → process → fit →
//! evaluate, with the time of each stage. Run it under `/usr/bin/time -v` for the peak RSS.
//!
//! ```text
//! cargo run -p mlpipeline --release --bin measure -- \
//!     --train data/yellow_tripdata_2021-01.parquet --test data/yellow_tripdata_2021-02.parquet \
//!     --encoding onehot
//! ```

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use mlpipeline::data::load_data;
use mlpipeline::metrics::rmse;
use mlpipeline::model::{LinearRegression, Solver};
use mlpipeline::processing::{extract_x_y, process, Encoding, ProcessOptions};

/// Time the trip-duration pipeline on a training and a test month.
#[derive(Debug, Parser)]
struct Args {
    /// Training month (parquet or CSV).
    #[arg(long)]
    train: PathBuf,
    /// Test month (parquet or CSV).
    #[arg(long)]
    test: PathBuf,
    /// `notebook` or `onehot`.
    #[arg(long, default_value = "notebook")]
    encoding: Encoding,
    /// Use scikit-learn's LSQR instead of the exact solver.
    #[arg(long)]
    lsqr: bool,
}

fn main() -> Result<(), mlpipeline::PipelineError> {
    mlpipeline::memory::return_large_buffers();
    let args = Args::parse();
    let options = ProcessOptions::with_encoding(args.encoding);
    let total = Instant::now();
    let mut stage = Instant::now();
    let mut lap = |name: &str| {
        println!("{name:<22} {:>8.3} s", stage.elapsed().as_secs_f64());
        stage = Instant::now();
    };

    let trips = load_data(&args.train)?;
    let n_in = trips.len();
    lap("load train");
    let train = process(trips, true, &options)?;
    lap("process train");
    let (x_train, y_train, dv) = extract_x_y(&train, None)?;
    let y_train = y_train.unwrap_or_default();
    drop(train);
    lap("extract_x_y train");
    let solver = if args.lsqr {
        Solver::sklearn_lsqr()
    } else {
        Solver::Exact
    };
    let model = LinearRegression::new()
        .solver(solver)
        .fit(&x_train, &y_train)?;
    lap("fit");
    let rmse_train = rmse(&y_train, &model.predict(&x_train)?)?;
    drop(x_train);
    lap("evaluate train");

    let test = process(load_data(&args.test)?, true, &options)?;
    lap("load+process test");
    let (x_test, y_test, _) = extract_x_y(&test, Some(&dv))?;
    let rmse_test = rmse(&y_test.unwrap_or_default(), &model.predict(&x_test)?)?;
    lap("extract+evaluate test");

    println!(
        "encoding {}: {n_in} rows in, {} kept for training, {} features, {} test rows",
        args.encoding,
        y_train.len(),
        dv.n_features(),
        x_test.nrows()
    );
    println!("rmse train {rmse_train:.6}, rmse test {rmse_test:.6}");
    println!("total {:.3} s", total.elapsed().as_secs_f64());
    Ok(())
}
