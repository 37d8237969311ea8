//! Reading trip records from parquet, only the needed columns, batch by batch.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::{locate_columns, progress_bar, Trips, BATCH_SIZE, NAT};
use crate::error::{PipelineError, Result};

pub(super) fn load(path: &Path) -> Result<Trips> {
    let file = File::open(path).map_err(|source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let parquet_err = |e: parquet::errors::ParquetError| PipelineError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err)?;
    let schema = builder.schema().clone();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let located = locate_columns(path, &names)?;
    let total_rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);

    // Check the types before reading anything.
    for (k, &pos) in located.positions.iter().enumerate() {
        let field = schema.field(pos);
        let ok = if k < 2 {
            matches!(field.data_type(), DataType::Timestamp(_, _))
        } else {
            numeric(field.data_type())
        };
        if !ok {
            return Err(PipelineError::UnsupportedColumnType {
                path: path.to_path_buf(),
                column: field.name().clone(),
                data_type: field.data_type().to_string(),
                expected: if k < 2 { "a timestamp" } else { "a number" },
            });
        }
    }

    let mask = ProjectionMask::roots(builder.parquet_schema(), located.positions);
    // The projected batch keeps the file's column order: map our columns to batch positions.
    let mut sorted = located.positions;
    sorted.sort_unstable();
    let in_batch = located
        .positions
        .map(|p| sorted.iter().position(|&s| s == p).unwrap_or(0));

    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_SIZE)
        .build()
        .map_err(parquet_err)?;

    let mut trips = Trips::with_capacity(located.color, total_rows);
    let bar = progress_bar(total_rows as u64, "loading parquet");
    for batch in reader {
        let batch = batch.map_err(|e| PipelineError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let (pickup, dropoff, pu, dol, pc) = trips.columns_mut();
        append_timestamps(batch.column(in_batch[0]).as_ref(), pickup);
        append_timestamps(batch.column(in_batch[1]).as_ref(), dropoff);
        append_f64(batch.column(in_batch[2]).as_ref(), pu);
        append_f64(batch.column(in_batch[3]).as_ref(), dol);
        append_f64(batch.column(in_batch[4]).as_ref(), pc);
        bar.inc(batch.num_rows() as u64);
    }
    bar.finish_and_clear();
    trips.shrink_to_fit();
    Ok(trips)
}

fn numeric(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float32 | Float64
    )
}

fn push_prim<T, F>(a: &PrimitiveArray<T>, out: &mut Vec<F>, missing: F, f: impl Fn(T::Native) -> F)
where
    T: ArrowPrimitiveType,
    F: Copy,
{
    if a.null_count() == 0 {
        out.extend(a.values().iter().map(|&v| f(v)));
    } else {
        out.extend(a.iter().map(|v| v.map(&f).unwrap_or(missing)));
    }
}

/// Appends a timestamp column as nanoseconds since the epoch (time zones do not change the
/// instant, so durations are the same).
fn append_timestamps(a: &dyn Array, out: &mut Vec<i64>) {
    let scale = |k: i64| move |v: i64| v.saturating_mul(k);
    match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => push_prim(
            a.as_primitive::<TimestampSecondType>(),
            out,
            NAT,
            scale(1_000_000_000),
        ),
        DataType::Timestamp(TimeUnit::Millisecond, _) => push_prim(
            a.as_primitive::<TimestampMillisecondType>(),
            out,
            NAT,
            scale(1_000_000),
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => push_prim(
            a.as_primitive::<TimestampMicrosecondType>(),
            out,
            NAT,
            scale(1_000),
        ),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => push_prim(
            a.as_primitive::<TimestampNanosecondType>(),
            out,
            NAT,
            scale(1),
        ),
        // Types are checked before reading.
        _ => out.extend(std::iter::repeat_n(NAT, a.len())),
    }
}

/// Appends a numeric column as `f64`, `NaN` for nulls (pandas' representation).
fn append_f64(a: &dyn Array, out: &mut Vec<f64>) {
    let n = f64::NAN;
    match a.data_type() {
        DataType::Int8 => push_prim(a.as_primitive::<Int8Type>(), out, n, f64::from),
        DataType::Int16 => push_prim(a.as_primitive::<Int16Type>(), out, n, f64::from),
        DataType::Int32 => push_prim(a.as_primitive::<Int32Type>(), out, n, f64::from),
        DataType::Int64 => push_prim(a.as_primitive::<Int64Type>(), out, n, |v| v as f64),
        DataType::UInt8 => push_prim(a.as_primitive::<UInt8Type>(), out, n, f64::from),
        DataType::UInt16 => push_prim(a.as_primitive::<UInt16Type>(), out, n, f64::from),
        DataType::UInt32 => push_prim(a.as_primitive::<UInt32Type>(), out, n, f64::from),
        DataType::UInt64 => push_prim(a.as_primitive::<UInt64Type>(), out, n, |v| v as f64),
        DataType::Float32 => push_prim(a.as_primitive::<Float32Type>(), out, n, f64::from),
        DataType::Float64 => push_prim(a.as_primitive::<Float64Type>(), out, n, |v| v),
        _ => out.extend(std::iter::repeat_n(n, a.len())),
    }
}
