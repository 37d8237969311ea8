//! The training flow.

use std::path::PathBuf;

use flowcore::prelude::*;
use serde::{Deserialize, Serialize};

use super::params::TrainParameters;
use super::processing_flow::processing;
use super::tasks::{evaluate, extract_x_y, extract_x_y_with, save_model, train};
use crate::artifacts::TrainingMetadata;
use crate::processing::Encoding;

/// What a training run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Training rows kept after filtering.
    pub n_train: usize,
    /// Evaluation rows kept after filtering.
    pub n_test: usize,
    /// Features of the fitted vectorizer.
    pub n_features: usize,
    /// RMSE on the training rows.
    pub rmse_train: f64,
    /// RMSE on the evaluation rows.
    pub rmse_test: f64,
    /// The encoding used.
    pub encoding: Encoding,
    /// The saved artifact.
    pub model_path: PathBuf,
}

/// Trains the trip-duration model: process the training month and extract its `X` and `y` (the
/// vectorizer is fitted on it), then train and evaluate on it while the test month is processed,
/// extract the test month's `X` through that vectorizer, evaluate, save the model with its
/// vectorizer.
///
/// A month is largest while it is loaded (its table and target: ~66 MB for 1.37M rows) and much
/// smaller once extracted (~27 MB), so the test month is loaded only after the training month is
/// extracted: two loaded months are never held at once (measured: 106–112 MB peak RSS instead of
/// 143–147 MB with both months processed at once, for 1.37M-row months). The model's fit and its
/// training RMSE (submitted tasks, on the runner's workers) run beside the test month's processing
/// (a subflow called from the flow's body), under either runner.
#[flow(name = "Model training", version = "1.0", tags = ["ml"])]
pub async fn train_flow(params: TrainParameters) -> Result<TrainReport, FlowError> {
    params.validate()?;
    let options = params.process_options();
    let train_data = processing
        .call(params.train_path.clone(), true, options)
        .await?;
    let train_set = extract_x_y(train_data).submit();
    // Extracted before the test month is loaded (see above).
    let train_ds = (&train_set).await?;
    let model = train(&train_set).submit();
    let rmse_train = evaluate(&model, &train_set).submit();
    let test_data = processing
        .call(params.test_path.clone(), true, options)
        .await?;
    let test_set = extract_x_y_with(test_data, &train_set).submit();
    let rmse_test = evaluate(&model, &test_set).submit();

    let test_ds = test_set.await?;
    let (rmse_train, rmse_test) = (rmse_train.await?, rmse_test.await?);
    let metadata = TrainingMetadata {
        n_test: Some(test_ds.len()),
        rmse_test: Some(rmse_test),
        train_source: Some(params.train_path.display().to_string()),
        test_source: Some(params.test_path.display().to_string()),
        ..TrainingMetadata::new(train_ds.len(), rmse_train)
    };
    let model_path = save_model(
        model,
        train_set,
        params.encoding,
        metadata,
        params.model_path(),
    )
    .await?;
    tracing::info!(
        "trained on {} rows, {} features: RMSE train {rmse_train:.4}, test {rmse_test:.4}",
        train_ds.len(),
        train_ds.vectorizer.n_features()
    );
    let report = TrainReport {
        n_train: train_ds.len(),
        n_test: test_ds.len(),
        n_features: train_ds.vectorizer.n_features(),
        rmse_train,
        rmse_test,
        encoding: params.encoding,
        model_path,
    };
    publish_report(
        &report,
        &params.train_path.display().to_string(),
        &params.test_path.display().to_string(),
    )?;
    Ok(report)
}

/// The run's `model-report` artifacts: a table of the numbers and a markdown summary.
pub(super) fn publish_report(
    report: &TrainReport,
    train_source: &str,
    test_source: &str,
) -> Result<(), FlowError> {
    #[derive(Serialize)]
    struct Row<'a> {
        metric: &'a str,
        value: String,
    }
    let rows = [
        ("train rows", report.n_train.to_string()),
        ("test rows", report.n_test.to_string()),
        ("features", report.n_features.to_string()),
        ("RMSE train", format!("{:.6}", report.rmse_train)),
        ("RMSE test", format!("{:.6}", report.rmse_test)),
        ("encoding", format!("{:?}", report.encoding)),
        ("model path", report.model_path.display().to_string()),
    ];
    let rows: Vec<Row<'_>> = rows
        .iter()
        .map(|(metric, value)| Row {
            metric,
            value: value.clone(),
        })
        .collect();
    flowcore::artifacts::create_table("model-report", &rows)?;
    flowcore::artifacts::create_markdown(
        "model-summary",
        format!(
            "## Trip-duration model\n\nTrained on `{}` ({} rows, {} features), evaluated on `{}` ({} rows).\n\n\
             | | RMSE (minutes) |\n|---|---|\n| train | {:.4} |\n| test | {:.4} |\n\nSaved to `{}`.",
            train_source,
            report.n_train,
            report.n_features,
            test_source,
            report.n_test,
            report.rmse_train,
            report.rmse_test,
            report.model_path.display()
        ),
    )?;
    Ok(())
}
