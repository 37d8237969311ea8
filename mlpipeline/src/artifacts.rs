//! Saving and loading the fitted vectorizer and model together, as one versioned file.
//!
//! The course pickles the model and the vectorizer after training and loads them for batch
//! prediction; its best-known failure is predicting with a vectorizer re-fitted on new data ("X
//! has 527 features, but LinearRegression is expecting 528"). Here both travel in one
//! [`ModelArtifact`], which cannot be built from a vectorizer and a model that disagree, and whose
//! file is checked on [`load`]:
//!
//! ```text
//! MLPIPELINE-MODEL 1 sha256=<hex digest of the payload> bytes=<payload length>
//! {"encoding":"onehot","vectorizer":{"feature_names":[...]},"model":{...},"metadata":{...}}
//! ```
//!
//! The first line is the header; the rest is the JSON payload. [`save`] writes to a temporary
//! file in the target's directory and renames it, so a reader never sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{PipelineError, Result};
use crate::features::FittedDictVectorizer;
use crate::model::FittedLinearRegression;
use crate::processing::{extract_x_y, Encoding, ProcessedTrips};

/// The first word of every artifact file.
pub const MAGIC: &str = "MLPIPELINE-MODEL";
/// The file format version this library writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What is known about how a model was trained.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainingMetadata {
    /// Rows the model was fitted on (after filtering).
    pub n_train: usize,
    /// RMSE on the training rows.
    pub rmse_train: f64,
    /// Rows of the evaluation data, if evaluated.
    pub n_test: Option<usize>,
    /// RMSE on the evaluation data, if evaluated.
    pub rmse_test: Option<f64>,
    /// Where the training data came from (a path or URL).
    pub train_source: Option<String>,
    /// Where the evaluation data came from.
    pub test_source: Option<String>,
    /// When the model was trained, seconds since the Unix epoch.
    pub trained_at_unix: u64,
    /// The crate version that trained it.
    pub library_version: String,
}

impl TrainingMetadata {
    /// Metadata stamped with the current time and this crate's version.
    pub fn new(n_train: usize, rmse_train: f64) -> Self {
        TrainingMetadata {
            n_train,
            rmse_train,
            trained_at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            library_version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        }
    }
}

/// A fitted vectorizer and the model fitted on its output, with the encoding and metadata.
///
/// ```
/// use mlpipeline::artifacts::{self, ModelArtifact, TrainingMetadata};
/// use mlpipeline::data::{TaxiColor, Trips};
/// use mlpipeline::model::LinearRegression;
/// use mlpipeline::processing::{extract_x_y, process, Encoding, ProcessOptions};
///
/// let m = 60_000_000_000; // one minute in nanoseconds
/// let trips = Trips::from_columns(
///     TaxiColor::Yellow,
///     vec![0, 0, 0],
///     vec![5 * m, 12 * m, 30 * m],
///     vec![1.0, 2.0, 3.0],
///     vec![4.0, 4.0, 5.0],
///     vec![1.0, 2.0, f64::NAN],
/// )?;
/// let options = ProcessOptions::with_encoding(Encoding::OneHot);
/// let train = process(trips.clone(), true, &options)?;
/// let (x, y, dv) = extract_x_y(&train, None)?;
/// let model = LinearRegression::new().fit(&x, y.as_deref().unwrap_or_default())?;
/// let artifact = ModelArtifact::new(Encoding::OneHot, dv, model, TrainingMetadata::new(3, 0.0))?;
///
/// let dir = std::env::temp_dir().join(format!("mlpipeline-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("model.mlp");
/// artifacts::save(&artifact, &path)?;
/// let loaded = artifacts::load(&path)?;
/// assert_eq!(loaded, artifact);
/// let predictions = loaded.predict(&process(trips, false, &options)?)?;
/// assert_eq!(predictions.len(), 3);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), mlpipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    encoding: Encoding,
    vectorizer: FittedDictVectorizer,
    model: FittedLinearRegression,
    metadata: TrainingMetadata,
}

impl ModelArtifact {
    /// Bundles a vectorizer and a model, refusing a pair whose feature counts differ.
    pub fn new(
        encoding: Encoding,
        vectorizer: FittedDictVectorizer,
        model: FittedLinearRegression,
        metadata: TrainingMetadata,
    ) -> Result<Self> {
        let artifact = ModelArtifact {
            encoding,
            vectorizer,
            model,
            metadata,
        };
        artifact.check()?;
        Ok(artifact)
    }

    fn check(&self) -> Result<()> {
        if self.vectorizer.n_features() != self.model.n_features() {
            return Err(PipelineError::FeatureMismatch {
                vectorizer_features: self.vectorizer.n_features(),
                model_features: self.model.n_features(),
            });
        }
        if self.model.coef().iter().any(|c| !c.is_finite()) || !self.model.intercept().is_finite() {
            return Err(PipelineError::Solver(
                "the model has a non-finite coefficient or intercept".into(),
            ));
        }
        Ok(())
    }

    /// The encoding the model was trained with.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }
    /// The fitted vectorizer.
    pub fn vectorizer(&self) -> &FittedDictVectorizer {
        &self.vectorizer
    }
    /// The fitted model.
    pub fn model(&self) -> &FittedLinearRegression {
        &self.model
    }
    /// How the model was trained.
    pub fn metadata(&self) -> &TrainingMetadata {
        &self.metadata
    }

    /// Predicts processed data with the saved vectorizer (never a re-fitted one).
    ///
    /// Fails if the data were processed with another encoding.
    pub fn predict(&self, data: &ProcessedTrips) -> Result<Vec<f64>> {
        if data.encoding() != self.encoding {
            return Err(PipelineError::EncodingMismatch {
                model: self.encoding.to_string(),
                data: data.encoding().to_string(),
            });
        }
        let (x, _, _) = extract_x_y(data, Some(&self.vectorizer))?;
        self.model.predict(&x)
    }
}

fn artifact_error(path: &Path, message: impl Into<String>) -> PipelineError {
    PipelineError::Artifact {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes an artifact as the bytes of its file.
pub fn to_bytes(artifact: &ModelArtifact) -> Result<Vec<u8>> {
    artifact.check()?;
    let payload = serde_json::to_vec(artifact).map_err(|e| PipelineError::Artifact {
        path: PathBuf::new(),
        message: format!("cannot encode: {e}"),
    })?;
    let digest = Sha256::digest(&payload);
    let mut out = format!(
        "{MAGIC} {FORMAT_VERSION} sha256={} bytes={}\n",
        hex(&digest),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes and checks the bytes of an artifact file (`path` is only used in messages).
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<ModelArtifact> {
    let err = |m: String| artifact_error(path, m);
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .filter(|&p| p < 256)
        .ok_or_else(|| err("not a model artifact: no header line".into()))?;
    let header = std::str::from_utf8(&bytes[..newline])
        .map_err(|_| err("not a model artifact: the header is not text".into()))?;
    let parts: Vec<&str> = header.split(' ').collect();
    if parts.first() != Some(&MAGIC) {
        return Err(err(format!(
            "not a model artifact: the file does not start with {MAGIC}"
        )));
    }
    let version: u32 = parts
        .get(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| err("malformed header: no format version".into()))?;
    if version != FORMAT_VERSION {
        return Err(err(format!(
            "format version {version} is not supported; this library reads version {FORMAT_VERSION}"
        )));
    }
    let field = |name: &str| {
        parts
            .iter()
            .find_map(|p| p.strip_prefix(name))
            .ok_or_else(|| err(format!("malformed header: no `{name}` field")))
    };
    let expected_digest = field("sha256=")?;
    let expected_len: usize = field("bytes=")?
        .parse()
        .map_err(|_| err("malformed header: bad `bytes=` field".into()))?;
    let payload = &bytes[newline + 1..];
    if payload.len() < expected_len {
        return Err(err(format!(
            "truncated: the payload has {} of {expected_len} bytes",
            payload.len()
        )));
    }
    if payload.len() > expected_len {
        return Err(err(format!(
            "corrupt: {} bytes after the {expected_len}-byte payload",
            payload.len() - expected_len
        )));
    }
    let digest = hex(&Sha256::digest(payload));
    if digest != expected_digest {
        return Err(err(format!(
            "checksum mismatch: the payload's sha256 is {digest}, the header says {expected_digest} (the file is corrupt)"
        )));
    }
    let artifact: ModelArtifact = serde_json::from_slice(payload)
        .map_err(|e| err(format!("the payload is not a valid model: {e}")))?;
    artifact.check().map_err(|e| err(e.to_string()))?;
    Ok(artifact)
}

/// Writes an artifact to `path`, through a temporary file in the same directory and a rename.
pub fn save(artifact: &ModelArtifact, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_bytes(artifact).map_err(|e| match e {
        PipelineError::Artifact { message, .. } => artifact_error(path, message),
        other => other,
    })?;
    let io = |source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| artifact_error(path, "the path has no file name"))?
        .to_string_lossy();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// Reads and checks an artifact: header, version, length, checksum, and that the vectorizer and
/// the model agree on the number of features.
pub fn load(path: impl AsRef<Path>) -> Result<ModelArtifact> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_bytes(&bytes, path)
}
