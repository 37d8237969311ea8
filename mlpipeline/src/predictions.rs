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
    let path = path.as_ref();
    if predictions.len() != data.len() {
        return Err(PipelineError::LengthMismatch {
            column: PREDICTION_COLUMN.to_string(),
            expected: data.len(),
            actual: predictions.len(),
        });
    }
    let format = FileFormat::from_path(path)?;
    let inputs = CATEGORICAL
        .iter()
        .map(|name| input_column(data, name).map(|v| (*name, v)))
        .collect::<Result<Vec<_>>>()?;
    let io = |source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = temp_path(path);
    let written = match format {
        FileFormat::Csv => write_csv(&tmp, &inputs, predictions),
        FileFormat::Parquet => write_parquet(&tmp, &inputs, predictions),
    };
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "predictions".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_csv(tmp: &Path, inputs: &[(&str, Vec<i64>)], predictions: &[f64]) -> Result<()> {
    let err = |e: csv::Error| PipelineError::Csv {
        path: tmp.to_path_buf(),
        message: e.to_string(),
    };
    let mut w = csv::Writer::from_path(tmp).map_err(err)?;
    let mut header: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
    header.push(PREDICTION_COLUMN);
    w.write_record(&header).map_err(err)?;
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for (i, p) in predictions.iter().enumerate() {
        row.clear();
        row.extend(inputs.iter().map(|(_, v)| v[i].to_string()));
        row.push(p.to_string());
        w.write_record(&row).map_err(err)?;
    }
    w.flush().map_err(|source| PipelineError::Io {
        path: tmp.to_path_buf(),
        source,
    })
}

fn write_parquet(tmp: &Path, inputs: &[(&str, Vec<i64>)], predictions: &[f64]) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| PipelineError::Parquet {
        path: tmp.to_path_buf(),
        message: e.to_string(),
    };
    let mut fields: Vec<Field> = inputs
        .iter()
        .map(|(n, _)| Field::new(*n, DataType::Int64, false))
        .collect();
    fields.push(Field::new(PREDICTION_COLUMN, DataType::Float64, false));
    let mut columns: Vec<ArrayRef> = inputs
        .iter()
        .map(|(_, v)| Arc::new(Int64Array::from(v.clone())) as ArrayRef)
        .collect();
    columns.push(Arc::new(Float64Array::from(predictions.to_vec())));
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| err(&e))?;
    let file = std::fs::File::create(tmp).map_err(|source| PipelineError::Io {
        path: tmp.to_path_buf(),
        source,
    })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| err(&e))?;
    writer.write(&batch).map_err(|e| err(&e))?;
    writer.close().map_err(|e| err(&e))?;
    Ok(())
}
