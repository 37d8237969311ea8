//! Writing batch predictions: the three inputs of each row and its `predicted_duration`, as parquet or
//! CSV (chosen by the output file's extension), through a temporary file and a rename.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::data::FileFormat;
use crate::error::{PipelineError, Result};
use crate::features::FeatureColumn;
use crate::processing::{ProcessedTrips, CATEGORICAL};

/// The name of the prediction column.
pub const PREDICTION_COLUMN: &str = "predicted_duration";

/// The encoded value of an input column, per row, as an integer (`-1` where it was missing).
fn input_column(data: &ProcessedTrips, name: &str) -> Result<Vec<i64>> {
    let column = data
        .records()
        .columns()
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c)
        .ok_or_else(|| PipelineError::InvalidParameter {
            name: "data",
            message: format!("the processed data have no `{name}` column"),
        })?;
    Ok(match column {
        FeatureColumn::Numeric(values) => values.iter().map(|v| *v as i64).collect(),
        FeatureColumn::Categorical { levels, codes } => {
            let parsed: Vec<i64> = levels
                .iter()
                .map(|l| {
                    l.parse::<i64>()
                        .map_err(|_| PipelineError::InvalidParameter {
                            name: "data",
                            message: format!("`{name}` value {l:?} is not an integer"),
                        })
                })
                .collect::<Result<_>>()?;
            codes.iter().map(|&c| parsed[c as usize]).collect()
        }
    })
}

/// Writes `predictions` for `data` to `path` (`.parquet` or `.csv`): columns `PULocationID`,
/// `DOLocationID`, `passenger_count` and `predicted_duration`.
pub fn write_predictions(
    path: impl AsRef<Path>,
    data: &ProcessedTrips,
    predictions: &[f64],
) -> Result<()> {
    let mut writer = PredictionWriter::create(path)?;
    writer.write(data, predictions)?;
    writer.finish()
}

/// Predictions written a chunk at a time, to a temporary file renamed into place by
/// [`finish`](Self::finish) (dropped unfinished, the temporary file is removed and `path` is
/// untouched).
///
/// ```no_run
/// use mlpipeline::predictions::PredictionWriter;
/// # fn chunks() -> Vec<(mlpipeline::processing::ProcessedTrips, Vec<f64>)> { vec![] }
/// let mut out = PredictionWriter::create("predictions.parquet")?;
/// for (data, predicted) in chunks() {
///     out.write(&data, &predicted)?;
/// }
/// out.finish()?;
/// # Ok::<(), mlpipeline::PipelineError>(())
/// ```
pub struct PredictionWriter {
    path: PathBuf,
    tmp: PathBuf,
    sink: Option<Sink>,
}

enum Sink {
    Csv(csv::Writer<std::fs::File>),
    Parquet(ArrowWriter<std::fs::File>),
}

impl std::fmt::Debug for PredictionWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionWriter")
            .field("path", &self.path)
            .finish()
    }
}

fn schema() -> Arc<Schema> {
    let mut fields: Vec<Field> = CATEGORICAL
        .iter()
        .map(|n| Field::new(*n, DataType::Int64, false))
        .collect();
    fields.push(Field::new(PREDICTION_COLUMN, DataType::Float64, false));
    Arc::new(Schema::new(fields))
}

impl PredictionWriter {
    /// Starts `path` (`.parquet` or `.csv`, by extension) as a temporary file beside it.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let format = FileFormat::from_path(path)?;
        let tmp = temp_path(path);
        let io = |source| PipelineError::Io {
            path: tmp.clone(),
            source,
        };
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut writer = PredictionWriter {
            path: path.to_path_buf(),
            tmp: tmp.clone(),
            sink: None,
        };
        let sink = match format {
            FileFormat::Csv => {
                let mut w = csv::Writer::from_writer(file);
                let mut header: Vec<&str> = CATEGORICAL.to_vec();
                header.push(PREDICTION_COLUMN);
                w.write_record(&header).map_err(|e| writer.csv_error(e))?;
                Sink::Csv(w)
            }
            FileFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                Sink::Parquet(
                    ArrowWriter::try_new(file, schema(), Some(props))
                        .map_err(|e| writer.parquet_error(&e))?,
                )
            }
        };
        writer.sink = Some(sink);
        Ok(writer)
    }

    fn csv_error(&self, e: csv::Error) -> PipelineError {
        PipelineError::Csv {
            path: self.tmp.clone(),
            message: e.to_string(),
        }
    }

    fn parquet_error(&self, e: &dyn std::fmt::Display) -> PipelineError {
        PipelineError::Parquet {
            path: self.tmp.clone(),
            message: e.to_string(),
        }
    }

    /// Appends the rows of `data` with their `predictions`.
    pub fn write(&mut self, data: &ProcessedTrips, predictions: &[f64]) -> Result<()> {
        if predictions.len() != data.len() {
            return Err(PipelineError::LengthMismatch {
                column: PREDICTION_COLUMN.to_string(),
                expected: data.len(),
                actual: predictions.len(),
            });
        }
        let inputs = CATEGORICAL
            .iter()
            .map(|name| input_column(data, name))
            .collect::<Result<Vec<_>>>()?;
        match self.sink.as_mut() {
            Some(Sink::Csv(w)) => {
                let mut row: Vec<String> = Vec::with_capacity(inputs.len() + 1);
                let mut failed = None;
                for (i, p) in predictions.iter().enumerate() {
                    row.clear();
                    row.extend(inputs.iter().map(|v| v[i].to_string()));
                    row.push(p.to_string());
                    if let Err(e) = w.write_record(&row) {
                        failed = Some(e);
                        break;
                    }
                }
                if let Some(e) = failed {
                    return Err(self.csv_error(e));
                }
            }
            Some(Sink::Parquet(w)) => {
                let mut columns: Vec<ArrayRef> = inputs
                    .into_iter()
                    .map(|v| Arc::new(Int64Array::from(v)) as ArrayRef)
                    .collect();
                columns.push(Arc::new(Float64Array::from(predictions.to_vec())));
                let written = RecordBatch::try_new(schema(), columns)
                    .map_err(|e| e.to_string())
                    .and_then(|batch| w.write(&batch).map_err(|e| e.to_string()));
                if let Err(e) = written {
                    return Err(self.parquet_error(&e));
                }
            }
            None => {}
        }
        Ok(())
    }

    /// Completes the file and renames it to its path.
    pub fn finish(mut self) -> Result<()> {
        match self.sink.take() {
            Some(Sink::Csv(mut w)) => w.flush().map_err(|source| PipelineError::Io {
                path: self.tmp.clone(),
                source,
            })?,
            Some(Sink::Parquet(w)) => {
                w.close().map_err(|e| self.parquet_error(&e))?;
            }
            None => {}
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|source| PipelineError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for PredictionWriter {
    fn drop(&mut self) {
        // Not finished (an error, or dropped): nothing half-written stays behind.
        if self.tmp.exists() {
            self.sink = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "predictions".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}
