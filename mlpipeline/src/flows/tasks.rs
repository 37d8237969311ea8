//! The pipeline's steps as flowcore tasks. Each wraps one library function; the untracked function
//! stays callable as `task_name::func(…)`.

use std::path::PathBuf;
use std::sync::Arc;

use flowcore::task;

use crate::artifacts::{self, ModelArtifact, TrainingMetadata};
use crate::data::Trips;
use crate::error::{PipelineError, Result};
use crate::features::FittedDictVectorizer;
use crate::model::{FittedLinearRegression, LinearRegression};
use crate::processing::{self, Encoding, ProcessedTrips};
use crate::sparse::CsrMatrix;

/// Features and target ready for the model, with the vectorizer that made them. Cheap to clone: the
/// matrix and the target are shared.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The sparse feature matrix.
    pub x: Arc<CsrMatrix>,
    /// The target (trip durations, minutes), when the data have one.
    pub y: Option<Arc<Vec<f64>>>,
    /// The fitted vectorizer that produced `x`.
    pub vectorizer: FittedDictVectorizer,
}

impl Dataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }

    fn target(&self) -> Result<&[f64]> {
        self.y
            .as_deref()
            .map(Vec::as_slice)
            .ok_or_else(|| PipelineError::InvalidParameter {
                name: "dataset",
                message: "the data have no target (processed without target)".into(),
            })
    }
}

/// Loads one month of trip records (parquet or CSV). Retried when reading failed (files on network
/// storage come and go), not for a data error (an empty or corrupt file, a missing column).
#[task(
    name = "load_data",
    tags = ["io"],
    retries = 3,
    retry_delay = 1,
    retry_if = crate::error::is_transient,
    persist_result = false
)]
pub fn load_data(path: PathBuf) -> Result<Trips> {
    crate::data::load_data(&path)
}

/// Adds the `duration` column (minutes).
#[task(persist_result = false)]
pub fn compute_target(trips: Trips) -> Trips {
    let mut trips = trips;
    processing::compute_target(&mut trips);
    trips
}

/// Keeps trips with `min_duration ≤ duration ≤ max_duration`.
#[task(persist_result = false)]
pub fn filter_outliers(trips: Trips, min_duration: f64, max_duration: f64) -> Result<Trips> {
    let mut trips = trips;
    processing::filter_outliers(&mut trips, min_duration, max_duration)?;
    Ok(trips)
}

/// Encodes the categorical columns (null → -1, integers; strings for one-hot), keeping the target if
/// there is one. (Not persisted itself: its `processing` flow persists the same value.)
#[task(persist_result = false)]
pub fn encode_categorical_columns(trips: Trips, encoding: Encoding) -> Result<ProcessedTrips> {
    ProcessedTrips::from_owned_trips(trips, encoding)
}

/// Fits a `DictVectorizer` on training data and transforms them.
#[task]
pub fn extract_x_y(data: ProcessedTrips) -> Result<Dataset> {
    let (x, y, vectorizer) = processing::extract_x_y_owned(data, None)?;
    Ok(Dataset {
        x: Arc::new(x),
        y: y.map(Arc::new),
        vectorizer,
    })
}

/// Transforms data with the vectorizer fitted on `reference` (test and prediction data).
#[task]
pub fn extract_x_y_with(data: ProcessedTrips, reference: Dataset) -> Result<Dataset> {
    let (x, y, vectorizer) = processing::extract_x_y_owned(data, Some(&reference.vectorizer))?;
    Ok(Dataset {
        x: Arc::new(x),
        y: y.map(Arc::new),
        vectorizer,
    })
}

/// Fits ordinary least squares with an intercept.
#[task]
pub fn train(dataset: Dataset) -> Result<FittedLinearRegression> {
    LinearRegression::new().fit(&dataset.x, dataset.target()?)
}

/// RMSE of the model on a dataset.
#[task]
pub fn evaluate(model: FittedLinearRegression, dataset: Dataset) -> Result<f64> {
    model.rmse(&dataset.x, dataset.target()?)
}

/// Bundles the model with the vectorizer it was trained with and saves them as one artifact.
#[task(name = "Save", tags = ["serialize"])]
pub fn save_model(
    model: FittedLinearRegression,
    trained_on: Dataset,
    encoding: Encoding,
    metadata: TrainingMetadata,
    path: PathBuf,
) -> Result<PathBuf> {
    let artifact = ModelArtifact::new(encoding, trained_on.vectorizer, model, metadata)?;
    create_parent(&path)?;
    artifacts::save(&artifact, &path)?;
    Ok(path)
}

/// Creates the directory `path` goes in, if it has one.
pub(crate) fn create_parent(path: &std::path::Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PipelineError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// Loads a model artifact (vectorizer + model, checked). Retried like the course's `Load`.
#[task(name = "Load", tags = ["serialize"], retries = 3, retry_delay = 1)]
pub fn load_model(path: PathBuf) -> Result<ModelArtifact> {
    artifacts::load(&path)
}

/// Predicted durations of processed data, with the artifact's own vectorizer.
#[task]
pub fn predict(
    artifact: ModelArtifact,
    data: ProcessedTrips,
) -> Result<(ProcessedTrips, Vec<f64>)> {
    let predictions = artifact.predict(&data)?;
    Ok((data, predictions))
}

/// Writes the predictions beside their inputs (parquet or CSV by extension).
#[task(tags = ["io"])]
pub fn write_predictions(predicted: (ProcessedTrips, Vec<f64>), path: PathBuf) -> Result<PathBuf> {
    crate::predictions::write_predictions(&path, &predicted.0, &predicted.1)?;
    Ok(path)
}

/// Downloads one TLC month into `data_dir` (skipped when a readable copy is there). Retried with a
/// pause: the network and the server have bad moments.
#[task(name = "download_month", tags = ["io"], retries = 3, retry_delay = 2)]
pub async fn download_month(
    base_url: String,
    color: crate::data::TaxiColor,
    month: String,
    data_dir: PathBuf,
) -> Result<PathBuf> {
    crate::download::check_month(&month)?;
    let dest = data_dir.join(crate::download::file_name(color, &month));
    let url = crate::download::url(&base_url, color, &month);
    crate::download::download(&url, &dest).await?;
    Ok(dest)
}
