//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in the pipeline.
///
/// Each message names what it is about: the file, the column, the row or the field, so that a
/// failed task's log is enough to find the cause.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file's extension names no format this crate reads.
    #[error("{path}: unsupported file extension {extension:?}; expected `.parquet` or `.csv`")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// Its extension (empty when it has none).
        extension: String,
    },
    /// The file is not a readable parquet file.
    #[error("{path}: not a readable parquet file: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the parquet reader said.
        message: String,
    },
    /// The file is not a readable CSV file.
    #[error("{path}: not a readable CSV file: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// What the CSV reader said, with the line where it applies.
        message: String,
    },
    /// The file holds no trip records at all.
    #[error("{path}: the file is empty (no trip records)")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// A column the pipeline needs is not in the file.
    #[error("{path}: required column `{column}` not found; columns found: {}", found.join(", "))]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column that is missing (for pickup/dropoff, the yellow `tpep_` or green `lpep_` name).
        column: String,
        /// The columns the file has.
        found: Vec<String>,
    },
    /// A column has a type the pipeline cannot read.
    #[error("{path}: column `{column}` has type {data_type}, expected {expected}")]
    UnsupportedColumnType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The type found.
        data_type: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A CSV field could not be parsed.
    #[error("{path}: line {line}, column `{column}`: cannot parse {value:?} as {expected}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line of the file (the header is line 1).
        line: u64,
        /// The column.
        column: String,
        /// The text found.
        value: String,
        /// What was expected, e.g. `a timestamp YYYY-MM-DD HH:MM:SS`.
        expected: &'static str,
    },
    /// Columns of one table have different lengths.
    #[error("column `{column}` has {actual} rows, expected {expected}")]
    LengthMismatch {
        /// The column.
        column: String,
        /// The number of rows of the table.
        expected: usize,
        /// The number of rows of this column.
        actual: usize,
    },
    /// A step needs the target (`duration`) but it has not been computed.
    #[error("the target `duration` has not been computed; call compute_target first")]
    MissingTarget,
    /// There is no row to work with.
    #[error("no data: {context}")]
    EmptyData {
        /// What was empty, and why.
        context: String,
    },
    /// A NaN or infinite value where a finite one is needed.
    #[error("non-finite value {value} in {field} at row {row}")]
    NonFinite {
        /// The column, feature or vector.
        field: String,
        /// The row (0-based, after filtering).
        row: usize,
        /// The value found.
        value: f64,
    },
    /// A value cannot be cast to an integer category.
    #[error("column `{column}` row {row}: value {value} cannot be cast to an integer")]
    NotAnInteger {
        /// The column.
        column: String,
        /// The row (0-based, after filtering).
        row: usize,
        /// The value found.
        value: f64,
    },
    /// Shapes that must agree do not.
    #[error("shape mismatch in {context}: expected {expected}, got {actual}")]
    ShapeMismatch {
        /// Where it happened.
        context: String,
        /// What was expected.
        expected: usize,
        /// What was given.
        actual: usize,
    },
    /// A vectorizer and a model that do not belong together (the course's "X has 527 features,
    /// but LinearRegression is expecting 528").
    #[error("feature count mismatch: the vectorizer produces {vectorizer_features} features but the model expects {model_features}")]
    FeatureMismatch {
        /// Features the vectorizer produces.
        vectorizer_features: usize,
        /// Features the model was fitted on.
        model_features: usize,
    },
    /// The data were processed with another encoding than the model was trained with.
    #[error("encoding mismatch: the model was trained with encoding `{model}` but the data use `{data}`")]
    EncodingMismatch {
        /// The model's encoding.
        model: String,
        /// The data's encoding.
        data: String,
    },
    /// The least-squares solve failed.
    #[error("linear regression failed: {0}")]
    Solver(String),
    /// A model artifact file is corrupt, truncated, of another version or inconsistent.
    #[error("model artifact {path}: {message}")]
    Artifact {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A download failed.
    #[error("download of {url} failed: {message}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong (the HTTP status, or the transport error).
        message: String,
    },
    /// Invalid parameters (e.g. filter bounds, generator settings).
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Why it is invalid.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

impl PipelineError {
    /// Whether trying again may help: reading or writing a file (network storage comes and goes), a
    /// download. A data error — an empty or corrupt file, a missing column, a bad value — gives the
    /// same answer every time.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PipelineError::Io { .. } | PipelineError::Download { .. }
        )
    }
}

/// The pipeline tasks' retry condition (`retry_if`): retry transient failures
/// ([`PipelineError::is_transient`]) and errors that are not the pipeline's, never a data error.
pub fn is_transient(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<PipelineError>()
        .is_none_or(PipelineError::is_transient)
}
