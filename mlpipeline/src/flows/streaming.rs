//! The streaming flows: training on many months and batch prediction in bounded memory.

use flowcore::prelude::*;

use super::params::{PredictParameters, StreamTrainParameters};
use super::predict::PredictReport;
use super::streaming_tasks::{
    evaluate_month, fit_statistics, month_statistics, predict_file, save_fitted,
};
use super::tasks::load_model;
use super::train::{publish_report, TrainReport};
use crate::artifacts::TrainingMetadata;

/// Trains the trip-duration model on several months without holding them: a `month_statistics`
/// task per month (mapped; each streams its file row group by row group into least-squares
/// statistics) → `fit_statistics` (merged; the exact least-squares solution over all kept rows, the
/// one-hot vocabulary the union of the months') → `evaluate_month` (streamed) → `Save`.
///
/// The model equals the one fitted on the months concatenated in memory (to ~1e-12 relative).
#[flow(name = "Model training, streamed", version = "1.0", tags = ["ml"])]
pub async fn train_stream_flow(params: StreamTrainParameters) -> Result<TrainReport, FlowError> {
    params.validate()?;
    let options = params.process_options();
    let months = month_statistics::map(params.train_paths.iter().map(|p| (p.clone(), options)));
    let fit = fit_statistics(months).submit();
    let test = evaluate_month(&fit, params.test_path.clone(), options).submit();
    let fitted = (&fit).await?;
    let (n_test, rmse_test) = test.await?;
    let train_source = params
        .train_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let test_source = params.test_path.display().to_string();
    let metadata = TrainingMetadata {
        n_test: Some(n_test),
        rmse_test: Some(rmse_test),
        train_source: Some(train_source.clone()),
        test_source: Some(test_source.clone()),
        ..TrainingMetadata::new(fitted.n_train, fitted.rmse_train)
    };
    let n_features = fitted.vectorizer.n_features();
    let model_path = save_fitted(fit, params.encoding, metadata, params.model_path()).await?;
    tracing::info!(
        "trained on {} rows of {} month(s), {n_features} features: RMSE train {:.4}, test {rmse_test:.4}",
        fitted.n_train,
        params.train_paths.len(),
        fitted.rmse_train,
    );
    let report = TrainReport {
        n_train: fitted.n_train,
        n_test,
        n_features,
        rmse_train: fitted.rmse_train,
        rmse_test,
        encoding: params.encoding,
        model_path,
    };
    publish_report(&report, &train_source, &test_source)?;
    Ok(report)
}

/// Predicts trip durations for a month of any size in bounded memory: `Load` the model +
/// vectorizer → `predict_file` (read, encode, predict and write a chunk of rows at a time). Same
/// output file and report as [`predict_flow`](super::predict_flow).
#[flow(name = "Batch prediction, streamed", version = "1.0", tags = ["ml"])]
pub async fn predict_stream_flow(params: PredictParameters) -> Result<PredictReport, FlowError> {
    params.validate()?;
    let artifact = load_model(params.model_path.clone()).submit();
    let summary = predict_file(artifact, params.data_path.clone(), params.out_path.clone()).await?;
    flowcore::artifacts::create_table("prediction-summary", std::slice::from_ref(&summary))?;
    Ok(PredictReport {
        n_predictions: summary.count,
        mean_prediction: summary.mean,
        out: params.out_path.clone(),
    })
}
