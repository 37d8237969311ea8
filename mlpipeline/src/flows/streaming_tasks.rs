//! The steps of the streaming training and prediction flows as flowcore tasks: each month is read a
//! chunk at a time, so memory does not grow with the number of rows (see [`crate::streaming`]).

use std::path::PathBuf;

use flowcore::task;

use crate::artifacts::{self, ModelArtifact, TrainingMetadata};
use crate::error::{PipelineError, Result};
use crate::processing::{Encoding, ProcessOptions};
use crate::stats::{FeatureStatistics, StreamingFit};
use crate::streaming::PredictionSummary;

/// One training month's least-squares statistics: the file streamed row group by row group,
/// processed with a target (outliers dropped) and accumulated. Persisted: a resumed training run
/// does not read its months again. Retried when reading failed, not on a data error.
#[task(
    name = "month_statistics",
    tags = ["io"],
    retries = 3,
    retry_delay = 1,
    retry_if = crate::error::is_transient,
    persist_result = true
)]
pub fn month_statistics(path: PathBuf, options: ProcessOptions) -> Result<FeatureStatistics> {
    crate::streaming::month_statistics(&path, &options)
}

/// Merges the months' statistics (the one-hot vocabulary is their union) and solves the least
/// squares over all their rows: the vectorizer, the model and the training RMSE.
#[task(name = "fit_statistics")]
pub fn fit_statistics(months: Vec<FeatureStatistics>) -> Result<StreamingFit> {
    let mut months = months.into_iter();
    let mut all = months.next().ok_or_else(|| PipelineError::EmptyData {
        context: "no training month to fit on".into(),
    })?;
    for month in months {
        all.merge(&month)?;
    }
    all.fit()
}

/// Rows kept and RMSE of the fitted model on an evaluation month, streamed.
#[task(name = "evaluate_month", tags = ["io"])]
pub fn evaluate_month(
    fit: StreamingFit,
    path: PathBuf,
    options: ProcessOptions,
) -> Result<(usize, f64)> {
    crate::streaming::evaluate_file(&path, &fit.vectorizer, &fit.model, &options)
}

/// Saves the fitted model with its vectorizer as one checked artifact (the course's `Save`).
#[task(name = "Save", tags = ["serialize"])]
pub fn save_fitted(
    fit: StreamingFit,
    encoding: Encoding,
    metadata: TrainingMetadata,
    path: PathBuf,
) -> Result<PathBuf> {
    let artifact = ModelArtifact::new(encoding, fit.vectorizer, fit.model, metadata)?;
    super::tasks::create_parent(&path)?;
    artifacts::save(&artifact, &path)?;
    Ok(path)
}

/// Predicts every row of a month a chunk at a time, writing the predictions as it goes (parquet
/// or CSV by extension; the file appears only once complete).
#[task(name = "predict_file", tags = ["io"])]
pub fn predict_file(
    artifact: ModelArtifact,
    data_path: PathBuf,
    out_path: PathBuf,
) -> Result<PredictionSummary> {
    super::tasks::create_parent(&out_path)?;
    crate::streaming::predict_file(&data_path, &artifact, &out_path)
}
