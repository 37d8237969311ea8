//! Flow parameters: recorded as JSON, accepted from JSON, with errors that name the field.

use flowcore::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Window {
    min_duration: f64,
    max_duration: f64,
}

#[flow(name = "Parametrised", version = "1.2", tags = ["ml"])]
async fn parametrised(
    path: String,
    window: Window,
    limit: Option<u32>,
) -> Result<String, FlowError> {
    anyhow::ensure!(
        window.min_duration < window.max_duration,
        "window.min_duration must be below window.max_duration"
    );
    Ok(format!("{path}:{}:{:?}", window.max_duration, limit))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_recorded_as_json() {
    let window = Window {
        min_duration: 1.0,
        max_duration: 60.0,
    };
    let state = parametrised.run("a.parquet".into(), window, Some(3)).await;
    assert!(state.is_completed());
    let run = state.flow_run();
    assert_eq!(
        run.parameters,
        json!({"path": "a.parquet", "window": {"min_duration": 1.0, "max_duration": 60.0}, "limit": 3})
    );
    assert_eq!(run.version.as_deref(), Some("1.2"));
    assert_eq!(run.tags, ["ml"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_runs_from_json_parameters() {
    let state = parametrised
        .run_json(json!({"path": "b.csv", "window": {"min_duration": 1, "max_duration": 30}}))
        .await;
    assert!(state.is_completed(), "{:?}", state.message());
    assert_eq!(state.result().unwrap(), "b.csv:30:None");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_parameters_fail_the_run_naming_the_field() {
    let state = parametrised
        .run_json(json!({"path": "b.csv", "window": {"min_duration": "one", "max_duration": 30}}))
        .await;
    assert!(state.is_failed());
    let message = state.message().unwrap();
    assert!(
        message.starts_with(
            "Validation of flow parameters failed: invalid parameter `window.min_duration`"
        ),
        "{message}"
    );
    assert_eq!(state.flow_run().attempts, 0, "the body never ran");

    let state = parametrised
        .run_json(json!({"window": {"min_duration": 1, "max_duration": 30}}))
        .await;
    assert_eq!(
        state.message(),
        Some("Validation of flow parameters failed: missing parameter `path`")
    );

    let state = parametrised
        .run_json(
            json!({"path": "x", "window": {"min_duration": 1, "max_duration": 3}, "colour": 1}),
        )
        .await;
    assert_eq!(
        state.message(),
        Some("Validation of flow parameters failed: unknown parameter `colour`; the flow takes: path, window, limit")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_in_the_body_fails_the_run_with_its_message() {
    let state = parametrised
        .run_json(json!({"path": "b.csv", "window": {"min_duration": 60, "max_duration": 1}}))
        .await;
    assert!(state.is_failed());
    assert!(state
        .message()
        .unwrap()
        .contains("window.min_duration must be below"));
}

/// Not a serde type.
struct Opaque(u8);

#[flow(validate_parameters = false)]
async fn unvalidated(value: Opaque) -> u8 {
    value.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_off_accepts_any_parameter_type() {
    let state = unvalidated.run(Opaque(9)).await;
    assert_eq!(state.output(), Some(&9));
    assert!(state.flow_run().parameters["value"]
        .as_str()
        .unwrap()
        .contains("Opaque"));
}

#[test]
fn run_blocking_works_from_plain_main() {
    let state = unvalidated.run_blocking(Opaque(4));
    assert_eq!(state.result().unwrap(), 4);
    assert_eq!(unvalidated.spec().parameters, ["value"]);
    assert!(!unvalidated.spec().validate_parameters);
}
