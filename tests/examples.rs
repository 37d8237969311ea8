//! The examples' command-line and JSON interfaces, run as a user runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// An example binary built by `cargo test` (examples are built with the tests).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(path.is_file(), "{} is not built", path.display());
    path
}

fn sample(month: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mlpipeline/tests/data")
        .join(format!("yellow_tripdata_sample_{month}.parquet"))
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn train_then_predict_through_the_json_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("train.json");
    let out = Command::new(example("train_flow"))
        .args(["--out"])
        .arg(dir.path().join("models"))
        .args(["--runner", "sequential", "--json"])
        .arg(&json)
        .env("FLOWCORE_LOGGING_LEVEL", "warning")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Save-0"),
        "each task run's final state is printed:\n{stdout}"
    );
    assert!(stdout.contains("finished in state Completed()"), "{stdout}");
    let report = read_json(&json);
    assert_eq!(report["state"], "Completed");
    assert_eq!(report["n_train"], 19009);
    assert_eq!(report["n_test"], 18974);
    assert_eq!(report["n_features"], 3);
    assert!((report["rmse_train"].as_f64().unwrap() - 12.83816765170029).abs() < 1e-8);
    assert!((report["rmse_test"].as_f64().unwrap() - 12.795356060633692).abs() < 1e-8);
    assert!(report["wall_s"].as_f64().unwrap() > 0.0);
    let model = PathBuf::from(report["model_path"].as_str().unwrap());
    assert!(model.is_file());

    let json = dir.path().join("predict.json");
    let predictions = dir.path().join("predictions.parquet");
    let out = Command::new(example("predict_flow"))
        .arg("--data")
        .arg(sample("2021-03"))
        .arg("--model")
        .arg(&model)
        .arg("--out")
        .arg(&predictions)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = read_json(&json);
    assert_eq!(report["state"], "Completed");
    assert_eq!(report["n_predictions"], 20000);
    assert!((report["mean_prediction"].as_f64().unwrap() - 20.90684117604443).abs() < 1e-8);
    assert_eq!(report["out"], predictions.to_str().unwrap());
    assert!(predictions.is_file());
}

#[test]
fn a_failed_training_run_reports_failed_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("train.json");
    let out = Command::new(example("train_flow"))
        .args(["--train", "does/not/exist.parquet", "--json"])
        .arg(&json)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let report = read_json(&json);
    assert_eq!(report["state"], "Failed");
    let message = report["message"].as_str().unwrap();
    assert!(
        message.contains("train_path") && message.contains("does/not/exist.parquet"),
        "{message}"
    );
}

#[test]
fn the_failing_flow_names_what_mismatched_and_which_task_failed() {
    let out = Command::new(example("failing_flow")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("the task run that failed: 'predict_with-0'"),
        "{stdout}"
    );
    assert!(stdout.contains("feature count mismatch"), "{stdout}");
    assert!(stdout.contains("finished in state Failed("), "{stdout}");
}

/// A data directory holding the samples under the TLC's month file names.
fn months_dir(months: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for m in months {
        std::fs::copy(
            sample(&format!("2021-{m}")),
            dir.path().join(format!("yellow_tripdata_2021-{m}.parquet")),
        )
        .unwrap();
    }
    dir
}

#[test]
fn a_month_range_trains_on_every_month_streamed() {
    let data = months_dir(&["01", "02", "03"]);
    let json = data.path().join("train.json");
    let out = Command::new(example("train_flow"))
        .args([
            "--train",
            "2021-01..2021-02",
            "--test",
            "2021-03",
            "--data-dir",
        ])
        .arg(data.path())
        .arg("--out")
        .arg(data.path().join("models"))
        .arg("--json")
        .arg(&json)
        .env("FLOWCORE_LOGGING_LEVEL", "warning")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("month_statistics-1"), "{stdout}");
    assert!(stdout.contains("Model training, streamed"), "{stdout}");
    let report = read_json(&json);
    assert_eq!(report["state"], "Completed");
    // The two samples' kept rows together.
    assert_eq!(report["n_train"], 19009 + 18974);
}

#[test]
fn a_month_range_with_a_missing_month_fails_naming_it() {
    let data = months_dir(&["01", "02", "03"]);
    let json = data.path().join("train.json");
    let out = Command::new(example("train_flow"))
        .args([
            "--train",
            "2021-01..2021-06",
            "--test",
            "2021-03",
            "--data-dir",
        ])
        .arg(data.path())
        .arg("--json")
        .arg(&json)
        .env("FLOWCORE_LOGGING_LEVEL", "warning")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("month 2021-04 is missing"), "{stderr}");
    assert!(
        stderr.contains("yellow_tripdata_2021-04.parquet"),
        "{stderr}"
    );
    let report = read_json(&json);
    assert_eq!(report["state"], "Failed");
    assert!(report["message"].as_str().unwrap().contains("2021-04"));
}

#[test]
fn an_empty_training_file_fails_naming_the_root_cause_first() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.parquet");
    std::fs::write(&empty, b"").unwrap();
    let json = dir.path().join("train.json");
    let out = Command::new(example("train_flow"))
        .arg("--train")
        .arg(&empty)
        .arg("--json")
        .arg(&json)
        .arg("--out")
        .arg(dir.path())
        .env("FLOWCORE_LOGGING_LEVEL", "warning")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let report = read_json(&json);
    let message = report["message"].as_str().unwrap();
    assert!(
        message.starts_with("Flow run encountered an error: task run 'load_data-0' failed: "),
        "{message}"
    );
    assert!(message.contains("the file is empty"), "{message}");
    assert!(!message.contains("did not complete"), "{message}");
}
