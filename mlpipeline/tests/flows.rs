//! The course's flows on the bundled sample: the same numbers as the notebook, through flowcore.

use std::path::{Path, PathBuf};

use flowcore::TaskRunner;
use mlpipeline::flows::{predict_flow, train_flow, PredictParameters, TrainParameters};
use mlpipeline::processing::Encoding;
use serde_json::json;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn golden(encoding: Encoding) -> serde_json::Value {
    let text = std::fs::read_to_string(data("notebook_golden.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all[encoding.as_str()].clone()
}

fn close_to(ours: f64, theirs: f64, what: &str, tolerance: f64) {
    let rel = (ours - theirs).abs() / theirs.abs().max(1e-300);
    assert!(
        rel <= tolerance,
        "{what}: ours {ours} vs notebook {theirs} (rel {rel:e})"
    );
}

fn close(ours: f64, theirs: f64, what: &str) {
    close_to(ours, theirs, what, 1e-9);
}

/// Relative tolerances (train RMSE; test RMSE and mean prediction). The notebook encoding matches to
/// 1e-9. For one-hot, scikit-learn solves with LSQR stopped at `atol = btol = 1e-6`, not at the
/// least-squares solution; the parity tests (`tests/parity.rs`) document how far that is.
fn tolerances(encoding: Encoding) -> (f64, f64) {
    match encoding {
        Encoding::Notebook => (1e-9, 1e-9),
        Encoding::OneHot => (2e-9, 5e-6),
    }
}

async fn train_and_predict(encoding: Encoding, runner: TaskRunner, predictions_ext: &str) {
    let dir = tempfile::tempdir().unwrap();
    let golden = golden(encoding);
    let params = TrainParameters {
        encoding,
        out_dir: dir.path().join("models"),
        ..TrainParameters::new(
            data("yellow_tripdata_sample_2021-01.parquet"),
            data("yellow_tripdata_sample_2021-02.parquet"),
        )
    };
    let state = flowcore::runner::with_task_runner(runner, train_flow.run(params)).await;
    assert!(state.is_completed(), "{:?}", state.message());
    // Two processing subflows, each with its four steps, and the training tasks: the training
    // month is processed and extracted before the test month is loaded.
    let names: Vec<&str> = state.task_runs().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "processing-0",
            "extract_x_y-0",
            "train-0",
            "evaluate-0",
            "processing-1",
            "extract_x_y_with-0",
            "evaluate-1",
            "Save-0"
        ]
    );
    let run = |name: &str| state.task_run(name).unwrap();
    let (extracted, test_loaded) = (run("extract_x_y-0"), run("processing-1"));
    assert!(
        extracted.end_time.unwrap() <= test_loaded.start_time.unwrap(),
        "the test month was processed while the training month was extracted"
    );
    assert_eq!(
        state
            .all_task_runs()
            .filter(|t| t.task_name == "load_data")
            .count(),
        2
    );
    assert!(state.all_task_runs().all(|t| t.state().is_completed()));
    let save = state.task_run("Save-0").unwrap();
    assert_eq!(save.tags, ["serialize"]);

    let report = state.result().unwrap();
    assert_eq!(report.n_train as u64, golden["n_train"].as_u64().unwrap());
    assert_eq!(report.n_test as u64, golden["n_test"].as_u64().unwrap());
    assert_eq!(
        report.n_features,
        golden["feature_names"].as_array().unwrap().len()
    );
    let (train_tol, test_tol) = tolerances(encoding);
    close_to(
        report.rmse_train,
        golden["rmse_train"].as_f64().unwrap(),
        "rmse_train",
        train_tol,
    );
    close_to(
        report.rmse_test,
        golden["rmse_test"].as_f64().unwrap(),
        "rmse_test",
        test_tol,
    );
    assert!(report.model_path.is_file());

    let out = dir.path().join(format!("predictions.{predictions_ext}"));
    let state = predict_flow
        .run(PredictParameters {
            data_path: data("yellow_tripdata_sample_2021-03.parquet"),
            model_path: report.model_path.clone(),
            out_path: out.clone(),
        })
        .await;
    assert!(state.is_completed(), "{:?}", state.message());
    let predicted = state.result().unwrap();
    assert_eq!(
        predicted.n_predictions as u64,
        golden["n_predict"].as_u64().unwrap()
    );
    close_to(
        predicted.mean_prediction,
        golden["predict_predictions_mean"].as_f64().unwrap(),
        "mean prediction",
        test_tol,
    );
    assert_eq!(predicted.out, out);
    assert!(out.is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notebook_encoding_through_the_flows_matches_the_notebook() {
    train_and_predict(Encoding::Notebook, TaskRunner::Concurrent, "parquet").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onehot_encoding_through_the_flows_matches_the_notebook() {
    train_and_predict(Encoding::OneHot, TaskRunner::Concurrent, "csv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequential_runner_gives_the_same_results() {
    train_and_predict(Encoding::Notebook, TaskRunner::Sequential, "csv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_are_written_with_their_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let params = TrainParameters {
        out_dir: dir.path().to_path_buf(),
        ..TrainParameters::new(
            data("yellow_tripdata_sample_2021-01.csv"),
            data("yellow_tripdata_sample_2021-02.csv"),
        )
    };
    let report = train_flow.call(params).await.unwrap();
    let out = dir.path().join("p.csv");
    predict_flow
        .call(PredictParameters {
            data_path: data("yellow_tripdata_sample_2021-03.csv"),
            model_path: report.model_path,
            out_path: out.clone(),
        })
        .await
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("PULocationID,DOLocationID,passenger_count,predicted_duration")
    );
    let golden = golden(Encoding::Notebook);
    let first10 = golden["predict_predictions_first10"].as_array().unwrap();
    for (line, expected) in lines.by_ref().zip(first10) {
        let predicted: f64 = line.rsplit(',').next().unwrap().parse().unwrap();
        close(predicted, expected.as_f64().unwrap(), "prediction");
    }
    assert_eq!(text.lines().count(), 20_001);
}

/// The artifacts a run published (from the events an in-memory sink saw).
fn artifacts_of(
    sink: &flowcore::event::MemorySink,
    run: uuid::Uuid,
) -> Vec<flowcore::schemas::artifacts::Artifact> {
    sink.events()
        .into_iter()
        .filter_map(|e| match e {
            flowcore::event::Event::Log(log) => {
                flowcore::schemas::artifacts::Artifact::from_log(&log)
            }
            _ => None,
        })
        .filter(|a| a.flow_run_id == Some(run))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_publish_their_reports_as_artifacts() {
    let sink = std::sync::Arc::new(flowcore::event::MemorySink::new());
    let as_sink: std::sync::Arc<dyn flowcore::event::EventSink> = sink.clone();
    flowcore::event::add_sink(as_sink.clone());
    let dir = tempfile::tempdir().unwrap();
    let params = TrainParameters {
        out_dir: dir.path().to_path_buf(),
        ..TrainParameters::new(
            data("yellow_tripdata_sample_2021-01.parquet"),
            data("yellow_tripdata_sample_2021-02.parquet"),
        )
    };
    let state = train_flow.run(params).await;
    let report = state.output().unwrap().clone();
    let trained = artifacts_of(&sink, state.flow_run().id);
    let table = trained.iter().find(|a| a.key == "model-report").unwrap();
    let rows = table.data.as_array().unwrap();
    let value = |metric: &str| {
        rows.iter()
            .find(|r| r["metric"] == metric)
            .map(|r| r["value"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(value("train rows"), report.n_train.to_string());
    assert_eq!(value("RMSE test"), format!("{:.6}", report.rmse_test));
    assert_eq!(value("model path"), report.model_path.display().to_string());
    let summary = trained.iter().find(|a| a.key == "model-summary").unwrap();
    assert!(summary.data.as_str().unwrap().contains("RMSE"));

    let state = predict_flow
        .run(PredictParameters {
            data_path: data("yellow_tripdata_sample_2021-03.parquet"),
            model_path: report.model_path,
            out_path: dir.path().join("p.parquet"),
        })
        .await;
    let predicted = state.output().unwrap().clone();
    let published = artifacts_of(&sink, state.flow_run().id);
    let summary = published
        .iter()
        .find(|a| a.key == "prediction-summary")
        .unwrap();
    assert_eq!(summary.data[0]["count"], predicted.n_predictions);
    assert!(summary.data[0]["min"].as_f64().unwrap() <= predicted.mean_prediction);
    flowcore::event::remove_sink(&as_sink);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_fail_the_flow_naming_the_field() {
    let missing = TrainParameters::new(
        "no/such/train.parquet",
        data("yellow_tripdata_sample_2021-02.parquet"),
    );
    let state = train_flow.run(missing).await;
    assert!(state.is_failed());
    let message = state.message().unwrap();
    assert!(message.contains("train_path"), "{message}");
    assert!(message.contains("no/such/train.parquet"), "{message}");
    assert!(state.task_runs().is_empty(), "nothing ran");

    let inverted = TrainParameters {
        min_duration: 60.0,
        max_duration: 1.0,
        ..TrainParameters::new(
            data("yellow_tripdata_sample_2021-01.parquet"),
            data("yellow_tripdata_sample_2021-02.parquet"),
        )
    };
    let state = train_flow.run(inverted).await;
    assert!(
        state.message().unwrap().contains("min_duration"),
        "{:?}",
        state.message()
    );

    // From JSON, as a deployment starts it: the field inside the parameter is named.
    let state = train_flow
        .run_json(json!({"params": {"train_path": "a", "test_path": "b", "encoding": "hexagonal"}}))
        .await;
    assert!(state.is_failed());
    let message = state.message().unwrap();
    assert!(message.contains("params.encoding"), "{message}");

    let state = predict_flow
        .run(PredictParameters {
            data_path: data("yellow_tripdata_sample_2021-03.parquet"),
            model_path: data("notebook_golden.json"),
            out_path: PathBuf::from("predictions.txt"),
        })
        .await;
    assert!(
        state.message().unwrap().contains("out_path"),
        "{:?}",
        state.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_model_fails_the_load_task_after_its_retries() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("broken.model");
    std::fs::write(&model, b"MLPIPELINE-MODEL 1 sha256=00 bytes=3\n{}\n").unwrap();
    let state = predict_flow
        .run(PredictParameters {
            data_path: data("yellow_tripdata_sample_2021-03.parquet"),
            model_path: model,
            out_path: dir.path().join("p.parquet"),
        })
        .await;
    assert!(state.is_failed());
    let load = state.task_run("Load-0").unwrap();
    assert_eq!(load.attempts, 4, "retries = 3");
    assert!(load
        .state()
        .message
        .as_deref()
        .unwrap()
        .contains("broken.model"));
    assert!(
        !dir.path().join("p.parquet").exists(),
        "nothing half-written"
    );
}

/// A training run that failed after processing (its model could not be saved) resumes without
/// processing the months again: its `processing` subflows end `Cached` with the stored results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_training_run_resumes_without_reprocessing() {
    let _h = flowcore::testing::harness();
    let dir = tempfile::tempdir().unwrap();
    // A file where the model folder's parent should be: saving fails (after training).
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let out_dir = blocker.join("models");
    let params = TrainParameters {
        out_dir: out_dir.clone(),
        ..TrainParameters::new(
            data("yellow_tripdata_sample_2021-01.parquet"),
            data("yellow_tripdata_sample_2021-02.parquet"),
        )
    };
    let failed = train_flow.run(params).await;
    assert!(failed.is_failed(), "{:?}", failed.message());
    let processing: Vec<_> = failed
        .task_runs()
        .iter()
        .filter(|t| t.task_name == "processing")
        .collect();
    assert_eq!(processing.len(), 2);
    assert!(processing
        .iter()
        .all(|t| t.history.last().unwrap().name == "Completed"));

    std::fs::remove_file(&blocker).unwrap();
    let resumed = flowcore::runtime::resume(failed.flow_run().id)
        .await
        .unwrap();
    assert!(resumed.is_completed(), "{:?}", resumed.flow_run().history);
    let names: Vec<String> = resumed
        .task_runs()
        .iter()
        .filter(|t| t.task_name == "processing")
        .map(|t| t.history.last().unwrap().name.to_string())
        .collect();
    assert_eq!(
        names,
        ["Cached", "Cached"],
        "the months were not processed again"
    );
    assert!(
        !resumed.all_task_runs().any(|t| t.task_name == "load_data"),
        "no data was read"
    );
    assert!(out_dir.join("trip_duration_notebook.model").exists());
}

#[flowcore::flow(name = "load-only")]
async fn load_only(path: PathBuf) -> Result<usize, flowcore::FlowError> {
    Ok(mlpipeline::flows::tasks::load_data(path).await?.len())
}

/// A data error (an empty file) is not retried; the failure names the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_error_is_not_retried() {
    let _h = flowcore::testing::harness();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("yellow_tripdata_2021-01.parquet");
    std::fs::write(&empty, b"").unwrap();
    let state = load_only.run(empty.clone()).await;
    assert!(state.is_failed());
    let load = state.task_run("load_data-0").unwrap();
    assert_eq!(load.attempts, 1, "{:?}", load.history);
    let message = load.history.last().unwrap().message.clone().unwrap();
    assert!(
        message.contains("yellow_tripdata_2021-01.parquet"),
        "{message}"
    );
    assert!(!mlpipeline::error::PipelineError::EmptyFile { path: empty }.is_transient());
}
