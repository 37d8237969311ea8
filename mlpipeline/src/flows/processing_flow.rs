//! The `processing` flow: one entry point for training data and prediction data.

use std::path::PathBuf;

use flowcore::prelude::*;

use super::tasks::{compute_target, encode_categorical_columns, filter_outliers, load_data};
use crate::processing::{ProcessOptions, ProcessedTrips};

/// Loads a month and prepares it for the vectorizer.
///
/// With `with_target` (training and evaluation data): load → compute the target → filter outliers →
/// encode. Without (prediction data): load → encode, keeping every row. The tasks are submitted, so
/// under the Concurrent runner they run on worker threads (and two processing runs called at once
/// overlap; `train_flow` calls them one after the other to hold one loaded month at a time); each
/// step's output moves to the next without a copy.
///
/// The flow persists its result (`persist_result`; its steps do not): a training run resumed after
/// a failure in training (`flowcore flow-run retry`, `flowcore::runtime::resume`) reuses the
/// processed months instead of reading the data again.
#[flow(name = "processing", persist_result = true)]
pub async fn processing(
    path: PathBuf,
    with_target: bool,
    options: ProcessOptions,
) -> Result<ProcessedTrips, FlowError> {
    let trips = load_data(path).submit();
    let processed = if with_target {
        let trips = compute_target(trips).submit();
        let trips = filter_outliers(trips, options.min_duration, options.max_duration).submit();
        encode_categorical_columns(trips, options.encoding).submit()
    } else {
        encode_categorical_columns(trips, options.encoding).submit()
    };
    Ok(processed.await?)
}
