//! Streaming fits equal in-memory fits: the bundled samples read in small chunks (parquet rewritten
//! with small row groups, and CSV), one month and several, both encodings.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatchReader;
use mlpipeline::artifacts::{ModelArtifact, TrainingMetadata};
use mlpipeline::data::{load_data, Trips};
use mlpipeline::metrics::rmse;
use mlpipeline::model::LinearRegression;
use mlpipeline::processing::{extract_x_y, process, Encoding, ProcessOptions};
use mlpipeline::streaming::{
    evaluate_file_in_chunks, month_statistics_in_chunks, predict_file_in_chunks,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn month(m: &str, ext: &str) -> PathBuf {
    data(&format!("yellow_tripdata_sample_2021-{m}.{ext}"))
}

/// The sample rewritten with row groups of `rows` rows (the bundled file has one).
fn small_row_groups(src: &Path, dir: &Path, rows: usize) -> PathBuf {
    let out = dir.join(src.file_name().unwrap());
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(src).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let schema = reader.schema();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows))
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(&out).unwrap(), schema, Some(props)).unwrap();
    for batch in reader {
        w.write(&batch.unwrap()).unwrap();
    }
    let meta = w.close().unwrap();
    assert!(meta.num_row_groups() >= 10, "{}", meta.num_row_groups());
    out
}

fn rel(a: f64, b: f64, scale: f64) -> f64 {
    (a - b).abs() / scale.max(1e-300)
}

/// The files to train on, for the format: parquet with 1,500-row groups, or CSV.
fn files(months: &[&str], ext: &str, dir: &Path) -> Vec<PathBuf> {
    months
        .iter()
        .map(|m| {
            let src = month(m, ext);
            if ext == "parquet" {
                small_row_groups(&src, dir, 1_500)
            } else {
                src
            }
        })
        .collect()
}

fn check(encoding: Encoding, ext: &str, months: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let options = ProcessOptions::with_encoding(encoding);
    let train_files = files(months, ext, dir.path());

    // Streaming: each month in 2,000-row chunks, statistics merged.
    let mut stats = month_statistics_in_chunks(&train_files[0], &options, 2_000).unwrap();
    for f in &train_files[1..] {
        let other = month_statistics_in_chunks(f, &options, 2_000).unwrap();
        stats.merge(&other).unwrap();
    }
    let fit = stats.fit().unwrap();

    // In memory: the months concatenated, processed, vectorized, fitted.
    let mut all: Option<Trips> = None;
    for m in months {
        let t = load_data(month(m, ext)).unwrap();
        match all.as_mut() {
            Some(a) => a.append(&t),
            None => all = Some(t),
        }
    }
    let train = process(all.unwrap(), true, &options).unwrap();
    let (x, y, dv) = extract_x_y(&train, None).unwrap();
    let y = y.unwrap();
    let model = LinearRegression::new().fit(&x, &y).unwrap();
    let rmse_train = rmse(&y, &model.predict(&x).unwrap()).unwrap();

    let what = format!("{encoding} {ext} {months:?}");
    assert_eq!(fit.n_train, train.len(), "{what}");
    assert_eq!(fit.vectorizer.feature_names(), dv.feature_names(), "{what}");
    let scale = model.coef().iter().fold(0.0f64, |m, c| m.max(c.abs()));
    for (j, (a, b)) in fit.model.coef().iter().zip(model.coef()).enumerate() {
        assert!(
            rel(*a, *b, scale) < 1e-9,
            "{what}: coef {j} ({}) streaming {a} in memory {b}",
            dv.feature_names()[j]
        );
    }
    assert!(
        rel(fit.model.intercept(), model.intercept(), model.intercept()) < 1e-9,
        "{what}: intercept {} vs {}",
        fit.model.intercept(),
        model.intercept()
    );
    assert!(
        rel(fit.rmse_train, rmse_train, rmse_train) < 1e-9,
        "{what}: rmse_train {} vs {rmse_train}",
        fit.rmse_train
    );

    // Evaluation of the next month, streamed vs in memory.
    let test_file = files(&["03"], ext, dir.path()).remove(0);
    let (n_test, rmse_test) =
        evaluate_file_in_chunks(&test_file, &fit.vectorizer, &fit.model, &options, 2_500).unwrap();
    let test = process(load_data(month("03", ext)).unwrap(), true, &options).unwrap();
    let (xt, yt, _) = extract_x_y(&test, Some(&dv)).unwrap();
    let expected = rmse(&yt.unwrap(), &model.predict(&xt).unwrap()).unwrap();
    assert_eq!(n_test, test.len(), "{what}");
    assert!(
        rel(rmse_test, expected, expected) < 1e-9,
        "{what}: rmse_test {rmse_test} vs {expected}"
    );
}

#[test]
fn one_month_streamed_equals_the_in_memory_fit_notebook_encoding() {
    check(Encoding::Notebook, "parquet", &["01"]);
    check(Encoding::Notebook, "csv", &["01"]);
}

#[test]
fn one_month_streamed_equals_the_in_memory_fit_onehot() {
    check(Encoding::OneHot, "parquet", &["01"]);
    check(Encoding::OneHot, "csv", &["01"]);
}

#[test]
fn two_months_streamed_equal_the_fit_on_their_concatenation() {
    check(Encoding::Notebook, "parquet", &["01", "02"]);
    check(Encoding::OneHot, "parquet", &["01", "02"]);
    check(Encoding::OneHot, "csv", &["02", "01"]);
}

#[test]
fn the_streamed_fit_matches_the_notebook_numbers() {
    #[derive(serde::Deserialize)]
    struct Golden {
        n_train: usize,
        rmse_train: f64,
        rmse_test: f64,
        feature_names: Vec<String>,
    }
    let text = std::fs::read_to_string(data("notebook_golden.json")).unwrap();
    let mut golden: std::collections::HashMap<String, Golden> =
        serde_json::from_str(&text).unwrap();
    for encoding in [Encoding::Notebook, Encoding::OneHot] {
        let g = golden.remove(encoding.as_str()).unwrap();
        let options = ProcessOptions::with_encoding(encoding);
        let stats = month_statistics_in_chunks(month("01", "parquet"), &options, 4_096).unwrap();
        let fit = stats.fit().unwrap();
        let (_, rmse_test) = evaluate_file_in_chunks(
            month("02", "parquet"),
            &fit.vectorizer,
            &fit.model,
            &options,
            4_096,
        )
        .unwrap();
        assert_eq!(fit.n_train, g.n_train);
        assert_eq!(fit.vectorizer.feature_names(), g.feature_names);
        // The parity tests' tolerances: scikit-learn's one-hot fit is LSQR stopped early.
        let (tol_train, tol_test) = match encoding {
            Encoding::Notebook => (1e-9, 1e-9),
            Encoding::OneHot => (2e-9, 5e-6),
        };
        let (r_train, r_test) = (
            rel(fit.rmse_train, g.rmse_train, g.rmse_train),
            rel(rmse_test, g.rmse_test, g.rmse_test),
        );
        assert!(
            r_train < tol_train,
            "{encoding}: rmse_train off by {r_train:e}"
        );
        assert!(r_test < tol_test, "{encoding}: rmse_test off by {r_test:e}");
    }
}

#[test]
fn streamed_predictions_equal_the_in_memory_ones() {
    let dir = tempfile::tempdir().unwrap();
    let options = ProcessOptions::with_encoding(Encoding::OneHot);
    let train = process(load_data(month("01", "parquet")).unwrap(), true, &options).unwrap();
    let (x, y, dv) = extract_x_y(&train, None).unwrap();
    let model = LinearRegression::new().fit(&x, &y.unwrap()).unwrap();
    let artifact = ModelArtifact::new(
        Encoding::OneHot,
        dv,
        model,
        TrainingMetadata::new(train.len(), 0.0),
    )
    .unwrap();
    let input = small_row_groups(&month("03", "parquet"), dir.path(), 1_500);
    for ext in ["parquet", "csv"] {
        let whole = dir.path().join(format!("whole.{ext}"));
        let streamed = dir.path().join(format!("streamed.{ext}"));
        let data = process(load_data(&input).unwrap(), false, &options).unwrap();
        let predictions = artifact.predict(&data).unwrap();
        mlpipeline::predictions::write_predictions(&whole, &data, &predictions).unwrap();
        let summary = predict_file_in_chunks(&input, &artifact, &streamed, 1_000).unwrap();
        assert_eq!(summary.count, predictions.len());
        let mean = predictions.iter().sum::<f64>() / predictions.len() as f64;
        assert!(rel(summary.mean, mean, mean) < 1e-12);
        let (a, b) = (load_back(&whole, ext), load_back(&streamed, ext));
        assert_eq!(a.len(), predictions.len(), "{ext}");
        assert_eq!(a, b, "{ext}");
        // Nothing temporary is left beside the output.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

/// The rows of a predictions file, as text (CSV) or debug-printed batches (parquet).
fn load_back(path: &Path, ext: &str) -> Vec<String> {
    if ext == "csv" {
        return std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect();
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let cols: Vec<Arc<dyn arrow_array::Array>> = batch.columns().to_vec();
        for r in 0..batch.num_rows() {
            let cells: Vec<String> = cols
                .iter()
                .map(|c| {
                    arrow_array::cast::AsArray::as_primitive_opt::<arrow_array::types::Int64Type>(
                        c.as_ref(),
                    )
                    .map(|a| a.value(r).to_string())
                    .unwrap_or_else(|| {
                        arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Float64Type>(
                            c.as_ref(),
                        )
                        .value(r)
                        .to_string()
                    })
                })
                .collect();
            rows.push(cells.join(","));
        }
    }
    rows
}

#[test]
fn a_month_whose_trips_are_all_outliers_fails_naming_the_file() {
    let options = ProcessOptions {
        min_duration: 10_000.0,
        max_duration: 20_000.0,
        ..ProcessOptions::default()
    };
    let err = month_statistics_in_chunks(month("01", "csv"), &options, 5_000).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("yellow_tripdata_sample_2021-01.csv"), "{msg}");
    assert!(
        msg.contains("nothing left after filtering outliers"),
        "{msg}"
    );
}
