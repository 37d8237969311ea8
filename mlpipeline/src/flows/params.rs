//! The flows' parameters, with validation that names the field.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::processing::{Encoding, ProcessOptions};

fn invalid(name: &'static str, message: impl Into<String>) -> PipelineError {
    PipelineError::InvalidParameter {
        name,
        message: message.into(),
    }
}

fn existing_file(name: &'static str, path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(invalid(
            name,
            format!("{} does not exist or is not a file", path.display()),
        ));
    }
    Ok(())
}

fn default_min() -> f64 {
    ProcessOptions::default().min_duration
}

fn default_max() -> f64 {
    ProcessOptions::default().max_duration
}

fn default_out_dir() -> PathBuf {
    PathBuf::from("results")
}

/// `{out_dir}/trip_duration_{encoding}.model`.
fn model_path(out_dir: &Path, encoding: Encoding) -> PathBuf {
    out_dir.join(format!("trip_duration_{encoding}.model"))
}

/// Parameters of [`train_flow`](super::train_flow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrainParameters {
    /// The training month (parquet or CSV).
    pub train_path: PathBuf,
    /// The evaluation month (parquet or CSV).
    pub test_path: PathBuf,
    /// `notebook` (3 numeric features) or `onehot`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Shortest trip kept, minutes.
    #[serde(default = "default_min")]
    pub min_duration: f64,
    /// Longest trip kept, minutes.
    #[serde(default = "default_max")]
    pub max_duration: f64,
    /// Where the model artifact is written.
    #[serde(default = "default_out_dir")]
    pub out_dir: PathBuf,
}

impl TrainParameters {
    /// Defaults (notebook encoding, 1–60 minutes, `results/`) for two months.
    pub fn new(train_path: impl Into<PathBuf>, test_path: impl Into<PathBuf>) -> Self {
        TrainParameters {
            train_path: train_path.into(),
            test_path: test_path.into(),
            encoding: Encoding::default(),
            min_duration: default_min(),
            max_duration: default_max(),
            out_dir: default_out_dir(),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        existing_file("train_path", &self.train_path)?;
        existing_file("test_path", &self.test_path)?;
        if !self.min_duration.is_finite() || !self.max_duration.is_finite() {
            return Err(invalid("min_duration", "durations must be finite numbers"));
        }
        if self.min_duration >= self.max_duration {
            return Err(invalid(
                "min_duration",
                format!(
                    "min_duration ({}) must be below max_duration ({})",
                    self.min_duration, self.max_duration
                ),
            ));
        }
        if self.out_dir.exists() && !self.out_dir.is_dir() {
            return Err(invalid(
                "out_dir",
                format!("{} exists and is not a directory", self.out_dir.display()),
            ));
        }
        Ok(())
    }

    /// The processing settings these parameters give.
    pub fn process_options(&self) -> ProcessOptions {
        ProcessOptions {
            encoding: self.encoding,
            min_duration: self.min_duration,
            max_duration: self.max_duration,
        }
    }

    /// Where the model artifact goes: `{out_dir}/trip_duration_{encoding}.model`.
    pub fn model_path(&self) -> PathBuf {
        model_path(&self.out_dir, self.encoding)
    }
}

/// Parameters of [`train_stream_flow`](super::train_stream_flow): several training months, read
/// a chunk at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StreamTrainParameters {
    /// The training months (parquet or CSV), fitted on together as on their concatenation.
    pub train_paths: Vec<PathBuf>,
    /// The evaluation month (parquet or CSV).
    pub test_path: PathBuf,
    /// `notebook` (3 numeric features) or `onehot`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Shortest trip kept, minutes.
    #[serde(default = "default_min")]
    pub min_duration: f64,
    /// Longest trip kept, minutes.
    #[serde(default = "default_max")]
    pub max_duration: f64,
    /// Where the model artifact is written.
    #[serde(default = "default_out_dir")]
    pub out_dir: PathBuf,
}

impl StreamTrainParameters {
    /// Defaults (notebook encoding, 1–60 minutes, `results/`) for these months.
    ///
    /// ```
    /// use mlpipeline::flows::StreamTrainParameters;
    /// let p = StreamTrainParameters::new(["jan.parquet", "feb.parquet"], "mar.parquet");
    /// assert_eq!(p.train_paths.len(), 2);
    /// ```
    pub fn new<P: Into<PathBuf>>(
        train_paths: impl IntoIterator<Item = P>,
        test_path: impl Into<PathBuf>,
    ) -> Self {
        StreamTrainParameters {
            train_paths: train_paths.into_iter().map(Into::into).collect(),
            test_path: test_path.into(),
            encoding: Encoding::default(),
            min_duration: default_min(),
            max_duration: default_max(),
            out_dir: default_out_dir(),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if self.train_paths.is_empty() {
            return Err(invalid("train_paths", "name at least one training month"));
        }
        for path in &self.train_paths {
            existing_file("train_paths", path)?;
        }
        TrainParameters {
            encoding: self.encoding,
            min_duration: self.min_duration,
            max_duration: self.max_duration,
            out_dir: self.out_dir.clone(),
            ..TrainParameters::new(&self.train_paths[0], &self.test_path)
        }
        .validate()
    }

    /// The processing settings these parameters give.
    pub fn process_options(&self) -> ProcessOptions {
        ProcessOptions {
            encoding: self.encoding,
            min_duration: self.min_duration,
            max_duration: self.max_duration,
        }
    }

    /// Where the model artifact goes: `{out_dir}/trip_duration_{encoding}.model`.
    pub fn model_path(&self) -> PathBuf {
        model_path(&self.out_dir, self.encoding)
    }
}

/// Parameters of [`predict_flow`](super::predict_flow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PredictParameters {
    /// The month to predict (parquet or CSV).
    pub data_path: PathBuf,
    /// The model artifact written by the training flow.
    pub model_path: PathBuf,
    /// The predictions file (`.parquet` or `.csv`).
    pub out_path: PathBuf,
}

impl PredictParameters {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        existing_file("data_path", &self.data_path)?;
        existing_file("model_path", &self.model_path)?;
        crate::data::FileFormat::from_path(&self.out_path).map_err(|_| {
            invalid(
                "out_path",
                format!("{} must end in .parquet or .csv", self.out_path.display()),
            )
        })?;
        Ok(())
    }
}
