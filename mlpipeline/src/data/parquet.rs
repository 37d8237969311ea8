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
    let builder = open_builder(path)?;
    let (located, sorted, in_batch) = projection(path, &builder)?;

    // Row groups are decoded by up to `threads` workers, each into its own slice of the output.
    let metadata = builder.metadata().clone();
    let group_rows: Vec<usize> = metadata
        .row_groups()
        .iter()
        .map(|g| usize::try_from(g.num_rows()).unwrap_or(0))
        .collect();
    let total_rows: usize = group_rows.iter().sum();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(group_rows.len())
        .max(1);
    let threads = if total_rows < 200_000 { 1 } else { threads };
    // Contiguous chunks of row groups with about the same number of rows.
    let mut chunks: Vec<Vec<usize>> = vec![Vec::new(); threads];
    let mut acc = 0usize;
    for (g, &n) in group_rows.iter().enumerate() {
        let k = (acc * threads / total_rows.max(1)).min(threads - 1);
        chunks[k].push(g);
        acc += n;
    }
    let chunks: Vec<Vec<usize>> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
    drop(builder);

    let mut trips = Trips::with_len(located.color, total_rows);
    let bar = progress_bar(total_rows as u64, "loading parquet");
    {
        let (pickup, dropoff, pu, dol, pc) = trips.columns_mut();
        let mut slices = Vec::new();
        let (mut a, mut b, mut c, mut d, mut e) = (
            &mut pickup[..],
            &mut dropoff[..],
            &mut pu[..],
            &mut dol[..],
            &mut pc[..],
        );
        for chunk in &chunks {
            let n: usize = chunk.iter().map(|&g| group_rows[g]).sum();
            let (a1, a2) = a.split_at_mut(n);
            let (b1, b2) = b.split_at_mut(n);
            let (c1, c2) = c.split_at_mut(n);
            let (d1, d2) = d.split_at_mut(n);
            let (e1, e2) = e.split_at_mut(n);
            slices.push((chunk.clone(), [a1, b1], [c1, d1, e1]));
            (a, b, c, d, e) = (a2, b2, c2, d2, e2);
        }
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = slices
                .into_iter()
                .map(|(groups, ts, nums)| {
                    let bar = &bar;
                    scope.spawn(move || {
                        decode_groups(path, &groups, sorted, in_batch, ts, nums, bar)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(PipelineError::Parquet {
                            path: path.to_path_buf(),
                            message: "a decoding thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        for r in results {
            r?;
        }
    }
    bar.finish_and_clear();
    Ok(trips)
}

/// A parquet error about `path`.
fn parquet_error(path: &Path, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The file opened and its footer read.
fn open_builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(path, e))
}

/// The needed columns of a parquet file, type-checked: where they are (`located`), the sorted
/// root positions to project, and where each lands in a projected batch.
fn projection<T>(
    path: &Path,
    builder: &parquet::arrow::arrow_reader::ArrowReaderBuilder<T>,
) -> Result<(super::ColumnPositions, [usize; 5], [usize; 5])> {
    let schema = builder.schema().clone();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let located = locate_columns(path, &names)?;

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

    // The projected batch keeps the file's column order: map our columns to batch positions.
    let mut sorted = located.positions;
    sorted.sort_unstable();
    let in_batch = located
        .positions
        .map(|p| sorted.iter().position(|&s| s == p).unwrap_or(0));
    Ok((located, sorted, in_batch))
}

/// A parquet file of trips read one record batch at a time, row group after row group (see
/// [`super::stream`]): only the five needed columns are decoded.
pub(super) struct ParquetChunks {
    path: std::path::PathBuf,
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    in_batch: [usize; 5],
    pub(super) color: super::TaxiColor,
}

impl ParquetChunks {
    /// Opens `path` for batches of at most `batch_rows` rows.
    pub(super) fn open(path: &Path, batch_rows: usize) -> Result<Self> {
        let builder = open_builder(path)?;
        let (located, roots, in_batch) = projection(path, &builder)?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(batch_rows.max(1))
            .build()
            .map_err(|e| parquet_error(path, e))?;
        Ok(ParquetChunks {
            path: path.to_path_buf(),
            reader,
            in_batch,
            color: located.color,
        })
    }

    /// The next batch of rows, `None` at the end of the file.
    pub(super) fn next_chunk(&mut self) -> Result<Option<Trips>> {
        let Some(batch) = self.reader.next() else {
            return Ok(None);
        };
        let batch = batch.map_err(|e| parquet_error(&self.path, e))?;
        let n = batch.num_rows();
        let mut trips = Trips::with_len(self.color, n);
        let (pickup, dropoff, pu, dol, pc) = trips.columns_mut();
        let col = |k: usize| batch.column(self.in_batch[k]).as_ref();
        fill_timestamps(col(0), pickup);
        fill_timestamps(col(1), dropoff);
        fill_f64(col(2), pu);
        fill_f64(col(3), dol);
        fill_f64(col(4), pc);
        Ok(Some(trips))
    }
}

/// Decodes the given row groups into the output slices (timestamps: pickup, dropoff; numbers:
/// PULocationID, DOLocationID, passenger_count).
fn decode_groups(
    path: &Path,
    groups: &[usize],
    roots: [usize; 5],
    in_batch: [usize; 5],
    [pickup, dropoff]: [&mut [i64]; 2],
    [pu, dol, pc]: [&mut [f64]; 3],
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let builder = open_builder(path)?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_row_groups(groups.to_vec())
        .with_batch_size(BATCH_SIZE)
        .build()
        .map_err(|e| parquet_error(path, e))?;
    let mut at = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(path, e))?;
        let n = batch.num_rows();
        if at + n > pickup.len() {
            return Err(PipelineError::Parquet {
                path: path.to_path_buf(),
                message: "row groups hold more rows than their metadata says".into(),
            });
        }
        fill_timestamps(batch.column(in_batch[0]).as_ref(), &mut pickup[at..at + n]);
        fill_timestamps(batch.column(in_batch[1]).as_ref(), &mut dropoff[at..at + n]);
        fill_f64(batch.column(in_batch[2]).as_ref(), &mut pu[at..at + n]);
        fill_f64(batch.column(in_batch[3]).as_ref(), &mut dol[at..at + n]);
        fill_f64(batch.column(in_batch[4]).as_ref(), &mut pc[at..at + n]);
        at += n;
        bar.inc(n as u64);
    }
    if at != pickup.len() {
        return Err(PipelineError::Parquet {
            path: path.to_path_buf(),
            message: format!(
                "row groups hold {at} rows where their metadata says {}",
                pickup.len()
            ),
        });
    }
    Ok(())
}

fn numeric(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float32 | Float64
    )
}

fn fill_prim<T, F>(a: &PrimitiveArray<T>, out: &mut [F], missing: F, f: impl Fn(T::Native) -> F)
where
    T: ArrowPrimitiveType,
    F: Copy,
{
    if a.null_count() == 0 {
        for (o, &v) in out.iter_mut().zip(a.values().iter()) {
            *o = f(v);
        }
    } else {
        for (o, v) in out.iter_mut().zip(a.iter()) {
            *o = v.map(&f).unwrap_or(missing);
        }
    }
}

/// Writes a timestamp column as nanoseconds since the epoch (time zones do not change the
/// instant, so durations are the same).
fn fill_timestamps(a: &dyn Array, out: &mut [i64]) {
    let scale = |k: i64| move |v: i64| v.saturating_mul(k);
    match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => fill_prim(
            a.as_primitive::<TimestampSecondType>(),
            out,
            NAT,
            scale(1_000_000_000),
        ),
        DataType::Timestamp(TimeUnit::Millisecond, _) => fill_prim(
            a.as_primitive::<TimestampMillisecondType>(),
            out,
            NAT,
            scale(1_000_000),
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => fill_prim(
            a.as_primitive::<TimestampMicrosecondType>(),
            out,
            NAT,
            scale(1_000),
        ),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => fill_prim(
            a.as_primitive::<TimestampNanosecondType>(),
            out,
            NAT,
            scale(1),
        ),
        // Types are checked before reading.
        _ => out.fill(NAT),
    }
}

/// Writes a numeric column as `f64`, `NaN` for nulls (pandas' representation).
fn fill_f64(a: &dyn Array, out: &mut [f64]) {
    let n = f64::NAN;
    match a.data_type() {
        DataType::Int8 => fill_prim(a.as_primitive::<Int8Type>(), out, n, f64::from),
        DataType::Int16 => fill_prim(a.as_primitive::<Int16Type>(), out, n, f64::from),
        DataType::Int32 => fill_prim(a.as_primitive::<Int32Type>(), out, n, f64::from),
        DataType::Int64 => fill_prim(a.as_primitive::<Int64Type>(), out, n, |v| v as f64),
        DataType::UInt8 => fill_prim(a.as_primitive::<UInt8Type>(), out, n, f64::from),
        DataType::UInt16 => fill_prim(a.as_primitive::<UInt16Type>(), out, n, f64::from),
        DataType::UInt32 => fill_prim(a.as_primitive::<UInt32Type>(), out, n, f64::from),
        DataType::UInt64 => fill_prim(a.as_primitive::<UInt64Type>(), out, n, |v| v as f64),
        DataType::Float32 => fill_prim(a.as_primitive::<Float32Type>(), out, n, f64::from),
        DataType::Float64 => fill_prim(a.as_primitive::<Float64Type>(), out, n, |v| v),
        _ => out.fill(n),
    }
}
