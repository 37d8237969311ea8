//! The streaming flows: training on several months and predicting a chunk at a time, through
//! flowcore, with the same numbers as the in-memory course flows.

use std::path::{Path, PathBuf};

use mlpipeline::flows::{
    predict_flow, predict_stream_flow, train_flow, train_stream_flow, PredictParameters,
    StreamTrainParameters, TrainParameters,
};
use mlpipeline::processing::Encoding;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn month(m: &str) -> PathBuf {
    data(&format!("yellow_tripdata_sample_2021-{m}.parquet"))
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

/// One month streamed gives the course flow's report; the graph is a mapped statistics task per
/// month, the fit, the evaluation and the save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_month_streamed_reports_what_the_course_flow_reports() {
    let _h = flowcore::testing::harness();
    let dir = tempfile::tempdir().unwrap();
    for encoding in [Encoding::Notebook, Encoding::OneHot] {
        let course = train_flow
            .call(TrainParameters {
                encoding,
                out_dir: dir.path().join("course"),
                ..TrainParameters::new(month("01"), month("02"))
            })
            .await
            .unwrap();
        let state = train_stream_flow
            .run(StreamTrainParameters {
                encoding,
                out_dir: dir.path().join("streamed"),
                ..StreamTrainParameters::new([month("01")], month("02"))
            })
            .await;
        assert!(state.is_completed(), "{:?}", state.message());
        let names: Vec<&str> = state.task_runs().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "month_statistics-0",
                "fit_statistics-0",
                "evaluate_month-0",
                "Save-0"
            ]
        );
        let streamed = state.result().unwrap();
        assert_eq!(streamed.n_train, course.n_train);
        assert_eq!(streamed.n_test, course.n_test);
        assert_eq!(streamed.n_features, course.n_features);
        assert!(
            rel(streamed.rmse_train, course.rmse_train) < 1e-9,
            "{encoding}"
        );
        assert!(
            rel(streamed.rmse_test, course.rmse_test) < 1e-9,
            "{encoding}"
        );
        assert!(streamed.model_path.is_file());

        // The streamed model predicts what the course's model predicts, streamed or not.
        let a = dir.path().join(format!("course-{encoding}.csv"));
        let b = dir.path().join(format!("streamed-{encoding}.csv"));
        let p1 = predict_flow
            .call(PredictParameters {
                data_path: month("03"),
                model_path: course.model_path.clone(),
                out_path: a.clone(),
            })
            .await
            .unwrap();
        let state = predict_stream_flow
            .run(PredictParameters {
                data_path: month("03"),
                model_path: streamed.model_path.clone(),
                out_path: b.clone(),
            })
            .await;
        assert!(state.is_completed(), "{:?}", state.message());
        let names: Vec<&str> = state.task_runs().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Load-0", "predict_file-0"]);
        let p2 = state.result().unwrap();
        assert_eq!(p1.n_predictions, p2.n_predictions);
        assert!(rel(p1.mean_prediction, p2.mean_prediction) < 1e-9);
        let (ta, tb) = (
            std::fs::read_to_string(&a).unwrap(),
            std::fs::read_to_string(&b).unwrap(),
        );
        assert_eq!(ta.lines().count(), tb.lines().count());
        for (la, lb) in ta.lines().zip(tb.lines()).skip(1) {
            let (ia, pa) = la.rsplit_once(',').unwrap();
            let (ib, pb) = lb.rsplit_once(',').unwrap();
            assert_eq!(ia, ib);
            let (pa, pb): (f64, f64) = (pa.parse().unwrap(), pb.parse().unwrap());
            assert!(rel(pa, pb) < 1e-9, "{la} vs {lb}");
        }
    }
}

/// Two months: one statistics task per month, fitted together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_months_train_together() {
    let _h = flowcore::testing::harness();
    let dir = tempfile::tempdir().unwrap();
    let state = train_stream_flow
        .run(StreamTrainParameters {
            encoding: Encoding::OneHot,
            out_dir: dir.path().to_path_buf(),
            ..StreamTrainParameters::new([month("01"), month("02")], month("03"))
        })
        .await;
    assert!(state.is_completed(), "{:?}", state.message());
    let report = state.output().unwrap().clone();
    let fit = state.task_run("fit_statistics-0").unwrap();
    assert_eq!(fit.inputs.len(), 2, "{:?}", fit.inputs);
    let one = mlpipeline::streaming::month_statistics(
        month("01"),
        &mlpipeline::processing::ProcessOptions::with_encoding(Encoding::OneHot),
    )
    .unwrap();
    assert!(report.n_train as u64 > one.n_rows());
    assert!(report.n_features >= one.n_features());
}

/// A training file that does not exist fails the run, naming the parameter and the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_month_fails_naming_it() {
    let _h = flowcore::testing::harness();
    let state = train_stream_flow
        .run(StreamTrainParameters::new(
            [month("01"), data("yellow_tripdata_2021-04.parquet")],
            month("03"),
        ))
        .await;
    assert!(state.is_failed());
    let message = state.message().unwrap_or_default().to_string();
    assert!(message.contains("`train_paths`"), "{message}");
    assert!(
        message.contains("yellow_tripdata_2021-04.parquet"),
        "{message}"
    );
}

/// A streamed training run that failed after reading its months resumes without reading them
/// again: its `month_statistics` runs end `Cached`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_streamed_run_resumes_without_reading_the_months() {
    let _h = flowcore::testing::harness();
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let params = StreamTrainParameters {
        out_dir: blocker.join("models"),
        ..StreamTrainParameters::new([month("01"), month("02")], month("03"))
    };
    let failed = train_stream_flow.run(params).await;
    assert!(failed.is_failed(), "{:?}", failed.message());
    std::fs::remove_file(&blocker).unwrap();
    let resumed = flowcore::runtime::resume(failed.flow_run().id)
        .await
        .unwrap();
    assert!(resumed.is_completed(), "{:?}", resumed.message());
    let months: Vec<String> = resumed
        .task_runs()
        .iter()
        .filter(|t| t.task_name == "month_statistics")
        .map(|t| t.history.last().unwrap().name.to_string())
        .collect();
    assert_eq!(months, ["Cached", "Cached"]);
}
