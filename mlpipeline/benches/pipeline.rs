//! One criterion benchmark per pipeline stage, on a synthetic month.
//!
//! The month has `MLPIPELINE_BENCH_ROWS` rows (default 200,000; the real 2021-01 has 1,369,769)
//! and is generated into a temporary directory before the benchmarks run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use mlpipeline::data::load_data;
use mlpipeline::metrics::rmse;
use mlpipeline::model::{LinearRegression, Solver};
use mlpipeline::processing::{
    compute_target, encode_categorical_columns, extract_x_y, filter_outliers, process, Encoding,
    ProcessOptions,
};
use mlpipeline::synth::{write_month, OutputFormat, SynthConfig};

fn stages(c: &mut Criterion) {
    let rows = std::env::var("MLPIPELINE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = SynthConfig {
        rows,
        ..SynthConfig::default()
    };
    let paths = write_month(&config, dir.path(), OutputFormat::Both).expect("synthetic month");
    let (parquet, csv) = (&paths[0], &paths[1]);

    let mut g = c.benchmark_group(format!("pipeline_{rows}_rows"));
    g.sample_size(10).measurement_time(Duration::from_secs(4));

    g.bench_function("synth_parquet", |b| {
        b.iter(|| write_month(&config, dir.path().join("regen"), OutputFormat::Parquet).unwrap())
    });
    g.bench_function("load_parquet", |b| b.iter(|| load_data(parquet).unwrap()));
    g.bench_function("load_csv", |b| b.iter(|| load_data(csv).unwrap()));

    let trips = load_data(parquet).unwrap();
    g.bench_function("compute_target+filter_outliers", |b| {
        b.iter(|| {
            let mut t = trips.clone();
            compute_target(&mut t);
            filter_outliers(&mut t, 1.0, 60.0).unwrap();
            t
        })
    });
    for encoding in [Encoding::Notebook, Encoding::OneHot] {
        let options = ProcessOptions::with_encoding(encoding);
        g.bench_function(format!("encode_categorical_columns/{encoding}"), |b| {
            b.iter(|| encode_categorical_columns(black_box(&trips), encoding).unwrap())
        });
        g.bench_function(format!("process/{encoding}"), |b| {
            b.iter(|| process(trips.clone(), true, &options).unwrap())
        });
        let processed = process(trips.clone(), true, &options).unwrap();
        g.bench_function(format!("extract_x_y/{encoding}"), |b| {
            b.iter(|| extract_x_y(black_box(&processed), None).unwrap())
        });
        let (x, y, _) = extract_x_y(&processed, None).unwrap();
        let y = y.unwrap();
        g.bench_function(format!("fit_exact/{encoding}"), |b| {
            b.iter(|| LinearRegression::new().fit(black_box(&x), &y).unwrap())
        });
        g.bench_function(format!("fit_sklearn_lsqr/{encoding}"), |b| {
            b.iter(|| {
                LinearRegression::new()
                    .solver(Solver::sklearn_lsqr())
                    .fit(black_box(&x), &y)
                    .unwrap()
            })
        });
        let model = LinearRegression::new().fit(&x, &y).unwrap();
        g.bench_function(format!("predict+rmse/{encoding}"), |b| {
            b.iter(|| rmse(&y, &model.predict(black_box(&x)).unwrap()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
