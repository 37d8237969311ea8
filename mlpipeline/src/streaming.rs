//! The pipeline over whole files in bounded memory: each month is read a chunk of rows at a time
//! ([`crate::data::stream`]), processed as the notebook does, and folded into what the step
//! needs — sufficient statistics for training ([`month_statistics`]), squared errors for
//! evaluation ([`evaluate_file`]), rows of predictions for batch prediction ([`predict_file`]).
//! Memory depends on the chunk size and the number of features, not on the number of rows.
//!
//! ```no_run
//! use mlpipeline::processing::{Encoding, ProcessOptions};
//! use mlpipeline::streaming::{evaluate_file, month_statistics};
//! let options = ProcessOptions::with_encoding(Encoding::OneHot);
//! let mut stats = month_statistics("yellow_tripdata_2021-01.parquet", &options)?;
//! stats.merge(&month_statistics("yellow_tripdata_2021-02.parquet", &options)?)?;
//! let fit = stats.fit()?;
//! let (n_test, rmse_test) =
//!     evaluate_file("yellow_tripdata_2021-03.parquet", &fit.vectorizer, &fit.model, &options)?;
//! println!("{} rows, RMSE train {:.3}, test {rmse_test:.3}", fit.n_train, fit.rmse_train);
//! # Ok::<(), mlpipeline::PipelineError>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::artifacts::ModelArtifact;
use crate::data::stream::{for_each_chunk, CHUNK_ROWS};
use crate::data::Trips;
use crate::error::{PipelineError, Result};
use crate::features::FittedDictVectorizer;
use crate::metrics::neumaier_add;
use crate::model::FittedLinearRegression;
use crate::predictions::PredictionWriter;
use crate::processing::{compute_target, extract_x_y, process, ProcessOptions, ProcessedTrips};
use crate::stats::FeatureStatistics;

/// The rows of a chunk kept for training or evaluation: target computed, outliers dropped,
/// encoded. `None` when no row of the chunk is kept.
fn with_target(mut trips: Trips, options: &ProcessOptions) -> Result<Option<ProcessedTrips>> {
    if options.min_duration.is_nan()
        || options.max_duration.is_nan()
        || options.min_duration > options.max_duration
    {
        return Err(PipelineError::InvalidParameter {
            name: "min_duration/max_duration",
            message: format!(
                "need min <= max, got [{}, {}]",
                options.min_duration, options.max_duration
            ),
        });
    }
    compute_target(&mut trips);
    let keep: Vec<bool> = trips
        .duration()
        .unwrap_or_default()
        .iter()
        .map(|&d| d >= options.min_duration && d <= options.max_duration)
        .collect();
    trips.retain_rows(&keep)?;
    if trips.is_empty() {
        return Ok(None);
    }
    ProcessedTrips::from_trips(&trips, options.encoding).map(Some)
}

fn nothing_kept(path: &Path, rows: u64, options: &ProcessOptions) -> PipelineError {
    PipelineError::EmptyData {
        context: format!(
            "{}: nothing left after filtering outliers: none of the {rows} trips has a duration \
             within [{}, {}] minutes",
            path.display(),
            options.min_duration,
            options.max_duration
        ),
    }
}

/// The least-squares statistics of one month: every chunk processed with a target (outliers
/// dropped) and accumulated. Fails naming the file if it cannot be read or keeps no row.
pub fn month_statistics(
    path: impl AsRef<Path>,
    options: &ProcessOptions,
) -> Result<FeatureStatistics> {
    month_statistics_in_chunks(path, options, CHUNK_ROWS)
}

/// [`month_statistics`] with chunks of at most `chunk_rows` rows.
pub fn month_statistics_in_chunks(
    path: impl AsRef<Path>,
    options: &ProcessOptions,
    chunk_rows: usize,
) -> Result<FeatureStatistics> {
    let path = path.as_ref();
    let mut stats = FeatureStatistics::new(options.encoding);
    let rows = for_each_chunk(path, chunk_rows, |trips| {
        if let Some(data) = with_target(trips, options)? {
            stats.add(&data)?;
        }
        Ok(())
    })?;
    if stats.n_rows() == 0 {
        return Err(nothing_kept(path, rows, options));
    }
    Ok(stats)
}

/// Rows kept and RMSE of `model` on a month with a target, read a chunk at a time and fed
/// through `vectorizer` (values it has not seen are ignored, as at prediction time).
pub fn evaluate_file(
    path: impl AsRef<Path>,
    vectorizer: &FittedDictVectorizer,
    model: &FittedLinearRegression,
    options: &ProcessOptions,
) -> Result<(usize, f64)> {
    evaluate_file_in_chunks(path, vectorizer, model, options, CHUNK_ROWS)
}

/// [`evaluate_file`] with chunks of at most `chunk_rows` rows.
pub fn evaluate_file_in_chunks(
    path: impl AsRef<Path>,
    vectorizer: &FittedDictVectorizer,
    model: &FittedLinearRegression,
    options: &ProcessOptions,
    chunk_rows: usize,
) -> Result<(usize, f64)> {
    let path = path.as_ref();
    let (mut n, mut sum, mut comp) = (0usize, 0.0f64, 0.0f64);
    let rows = for_each_chunk(path, chunk_rows, |trips| {
        let Some(data) = with_target(trips, options)? else {
            return Ok(());
        };
        let (x, y, _) = extract_x_y(&data, Some(vectorizer))?;
        let predicted = model.predict(&x)?;
        for (row, (&a, &b)) in y.unwrap_or_default().iter().zip(&predicted).enumerate() {
            let d = a - b;
            if !d.is_finite() {
                return Err(PipelineError::NonFinite {
                    field: format!("{}: prediction", path.display()),
                    row: n + row,
                    value: b,
                });
            }
            neumaier_add(&mut sum, &mut comp, d * d);
        }
        n += predicted.len();
        Ok(())
    })?;
    if n == 0 {
        return Err(nothing_kept(path, rows, options));
    }
    Ok((n, ((sum + comp) / n as f64).sqrt()))
}

/// What [`predict_file`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionSummary {
    /// Rows predicted (every row of the input: nothing is filtered).
    pub count: usize,
    /// Mean predicted duration, minutes.
    pub mean: f64,
    /// Smallest prediction (`None` without rows).
    pub min: Option<f64>,
    /// Largest prediction.
    pub max: Option<f64>,
}

/// Predicts every row of a month with `artifact` and writes the predictions to `out` (parquet or
/// CSV by extension) a chunk at a time; `out` appears only once complete.
pub fn predict_file(
    path: impl AsRef<Path>,
    artifact: &ModelArtifact,
    out: impl AsRef<Path>,
) -> Result<PredictionSummary> {
    predict_file_in_chunks(path, artifact, out, CHUNK_ROWS)
}

/// [`predict_file`] with chunks of at most `chunk_rows` rows.
pub fn predict_file_in_chunks(
    path: impl AsRef<Path>,
    artifact: &ModelArtifact,
    out: impl AsRef<Path>,
    chunk_rows: usize,
) -> Result<PredictionSummary> {
    let options = ProcessOptions::with_encoding(artifact.encoding());
    let mut writer = PredictionWriter::create(out)?;
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let rows = for_each_chunk(path, chunk_rows, |trips| {
        let data = process(trips, false, &options)?;
        let predicted = artifact.predict(&data)?;
        for &p in &predicted {
            neumaier_add(&mut sum, &mut comp, p);
            min = min.min(p);
            max = max.max(p);
        }
        writer.write(&data, &predicted)
    })?;
    writer.finish()?;
    let count = rows as usize;
    let finite = |v: f64| v.is_finite().then_some(v);
    Ok(PredictionSummary {
        count,
        mean: (sum + comp) / count.max(1) as f64,
        min: finite(min),
        max: finite(max),
    })
}
