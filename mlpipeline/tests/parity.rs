//! Parity with the course notebook (pandas + scikit-learn) on the bundled 20k-row samples.

use std::path::PathBuf;

use mlpipeline::data::load_data;
use mlpipeline::metrics::rmse;
use mlpipeline::model::{FittedLinearRegression, LinearRegression};
use mlpipeline::processing::{extract_x_y, process, Encoding, ProcessOptions};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Golden {
    n_train: usize,
    n_test: usize,
    n_predict: usize,
    feature_names: Vec<String>,
    coef: Vec<f64>,
    intercept: f64,
    rmse_train: f64,
    rmse_test: f64,
    test_predictions_first10: Vec<f64>,
    predict_predictions_first10: Vec<f64>,
    predict_predictions_mean: f64,
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn golden(encoding: Encoding) -> Golden {
    let text = std::fs::read_to_string(data("notebook_golden.json")).unwrap();
    let mut all: std::collections::HashMap<String, Golden> = serde_json::from_str(&text).unwrap();
    all.remove(encoding.as_str()).unwrap()
}

/// What the notebook computes, by our library.
#[derive(Debug, PartialEq)]
struct Run {
    n_train: usize,
    n_test: usize,
    n_predict: usize,
    feature_names: Vec<String>,
    model: FittedLinearRegression,
    rmse_train: f64,
    rmse_test: f64,
    test_predictions: Vec<f64>,
    predict_predictions: Vec<f64>,
}

fn run(encoding: Encoding, ext: &str) -> Run {
    let options = ProcessOptions::with_encoding(encoding);
    let file = |month: &str| data(&format!("yellow_tripdata_sample_2021-{month}.{ext}"));
    let train = process(load_data(file("01")).unwrap(), true, &options).unwrap();
    let test = process(load_data(file("02")).unwrap(), true, &options).unwrap();
    let predict = process(load_data(file("03")).unwrap(), false, &options).unwrap();

    let (x_train, y_train, dv) = extract_x_y(&train, None).unwrap();
    let (x_test, y_test, _) = extract_x_y(&test, Some(&dv)).unwrap();
    let (x_pred, y_pred, _) = extract_x_y(&predict, Some(&dv)).unwrap();
    assert!(y_pred.is_none());
    let (y_train, y_test) = (y_train.unwrap(), y_test.unwrap());

    let model = LinearRegression::new().fit(&x_train, &y_train).unwrap();
    let rmse_train = rmse(&y_train, &model.predict(&x_train).unwrap()).unwrap();
    let test_predictions = model.predict(&x_test).unwrap();
    let rmse_test = rmse(&y_test, &test_predictions).unwrap();
    let predict_predictions = model.predict(&x_pred).unwrap();
    Run {
        n_train: train.len(),
        n_test: test.len(),
        n_predict: predict.len(),
        feature_names: dv.feature_names().to_vec(),
        model,
        rmse_train,
        rmse_test,
        test_predictions,
        predict_predictions,
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

fn assert_close(what: &str, ours: f64, theirs: f64, tol: f64) {
    let r = rel(ours, theirs);
    eprintln!("{what}: ours {ours:.17e} golden {theirs:.17e} rel {r:.2e}");
    assert!(r <= tol, "{what}: ours {ours} vs golden {theirs}: relative difference {r:e} > {tol:e}");
}

fn check(encoding: Encoding, ext: &str) -> Run {
    let g = golden(encoding);
    let r = run(encoding, ext);
    assert_eq!(r.n_train, g.n_train, "n_train");
    assert_eq!(r.n_test, g.n_test, "n_test");
    assert_eq!(r.n_predict, g.n_predict, "n_predict");
    assert_eq!(r.feature_names, g.feature_names, "feature names");
    assert_close("rmse_train", r.rmse_train, g.rmse_train, 1e-9);
    assert_close("rmse_test", r.rmse_test, g.rmse_test, 1e-9);
    for (i, (&a, &b)) in r.test_predictions.iter().zip(&g.test_predictions_first10).enumerate() {
        assert_close(&format!("test prediction {i}"), a, b, 1e-9);
    }
    for (i, (&a, &b)) in r.predict_predictions.iter().zip(&g.predict_predictions_first10).enumerate() {
        assert_close(&format!("predict prediction {i}"), a, b, 1e-9);
    }
    let mean = r.predict_predictions.iter().sum::<f64>() / r.predict_predictions.len() as f64;
    assert_close("predict mean", mean, g.predict_predictions_mean, 1e-9);
    assert_eq!(r.model.coef().len(), g.coef.len());
    if encoding == Encoding::Notebook {
        for (i, (&a, &b)) in r.model.coef().iter().zip(&g.coef).enumerate() {
            assert_close(&format!("coef {i}"), a, b, 1e-7);
        }
        assert_close("intercept", r.model.intercept(), g.intercept, 1e-7);
    } else {
        let worst = r.model.coef().iter().zip(&g.coef).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        eprintln!("onehot coef max abs diff {worst:e}, intercept {} vs {}", r.model.intercept(), g.intercept);
    }
    r
}

#[test]
fn notebook_encoding_parquet_matches_notebook() {
    check(Encoding::Notebook, "parquet");
}

#[test]
fn notebook_encoding_csv_matches_notebook() {
    check(Encoding::Notebook, "csv");
}

#[test]
fn onehot_encoding_parquet_matches_notebook() {
    check(Encoding::OneHot, "parquet");
}

#[test]
fn onehot_encoding_csv_matches_notebook() {
    check(Encoding::OneHot, "csv");
}

#[test]
fn parquet_and_csv_give_identical_results() {
    for encoding in [Encoding::Notebook, Encoding::OneHot] {
        assert_eq!(run(encoding, "parquet"), run(encoding, "csv"), "{encoding}");
    }
}
