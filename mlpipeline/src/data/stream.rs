//! Reading a month of trips a chunk of rows at a time, in memory bounded by the chunk size.
//!
//! [`TripChunks`] yields [`Trips`] of at most `chunk_rows` rows: parquet record batches decoded row
//! group after row group (only the five needed columns), or CSV lines. [`for_each_chunk`] decodes
//! the next chunks on a second thread while the caller works on the current one.

use std::path::{Path, PathBuf};

use super::csv::CsvChunks;
use super::parquet::ParquetChunks;
use super::{FileFormat, TaxiColor, Trips};
use crate::error::{PipelineError, Result};

/// Rows per chunk unless told otherwise: a few MB of decoded columns.
pub const CHUNK_ROWS: usize = 64 * 1024;

/// A trip file read a chunk at a time.
pub struct TripChunks {
    path: PathBuf,
    source: Source,
    chunk_rows: usize,
    rows: u64,
}

enum Source {
    Parquet(ParquetChunks),
    Csv(CsvChunks),
}

impl std::fmt::Debug for TripChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TripChunks")
            .field("path", &self.path)
            .field("chunk_rows", &self.chunk_rows)
            .field("rows", &self.rows)
            .finish()
    }
}

impl TripChunks {
    /// Opens a parquet or CSV file (by extension) for chunks of at most `chunk_rows` rows; the
    /// header or schema is checked here (a missing column fails before any row is read).
    ///
    /// ```no_run
    /// use mlpipeline::data::stream::TripChunks;
    /// let mut rows = 0;
    /// for chunk in TripChunks::open("yellow_tripdata_2021-01.parquet", 65_536)? {
    ///     rows += chunk?.len();
    /// }
    /// # Ok::<(), mlpipeline::PipelineError>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, chunk_rows: usize) -> Result<Self> {
        let path = path.as_ref();
        let format = super::readable_format(path)?;
        let chunk_rows = chunk_rows.max(1);
        let source = match format {
            FileFormat::Parquet => Source::Parquet(ParquetChunks::open(path, chunk_rows)?),
            FileFormat::Csv => Source::Csv(CsvChunks::open(path)?),
        };
        Ok(TripChunks {
            path: path.to_path_buf(),
            source,
            chunk_rows,
            rows: 0,
        })
    }

    /// The taxi color the file was detected as.
    pub fn color(&self) -> TaxiColor {
        match &self.source {
            Source::Parquet(p) => p.color,
            Source::Csv(c) => c.color,
        }
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows read so far.
    pub fn rows_read(&self) -> u64 {
        self.rows
    }

    fn next_chunk(&mut self) -> Result<Option<Trips>> {
        let chunk = match &mut self.source {
            Source::Parquet(p) => p.next_chunk()?,
            Source::Csv(c) => c.next_chunk(self.chunk_rows)?,
        };
        if let Some(c) = &chunk {
            self.rows += c.len() as u64;
        }
        Ok(chunk)
    }
}

impl Iterator for TripChunks {
    type Item = Result<Trips>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

/// How many files [`for_each_chunk`] streams at once in this process: `MLPIPELINE_STREAMS`, else
/// the number of cores. Many months mapped at once queue here, so memory stays that of this many
/// streams (their chunks in flight) whatever the number of months; measured on 2 cores, two
/// streams are ~20% faster than one for ~15 MB more.
pub fn max_streams() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("MLPIPELINE_STREAMS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// A slot among [`max_streams`]: taken when a stream starts, given back when it ends.
struct StreamSlot;

static STREAMS: (std::sync::Mutex<usize>, std::sync::Condvar) =
    (std::sync::Mutex::new(0), std::sync::Condvar::new());

impl StreamSlot {
    fn take() -> Self {
        let (count, freed) = &STREAMS;
        let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= max_streams() {
            n = freed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        StreamSlot
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let (count, freed) = &STREAMS;
        let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        freed.notify_one();
    }
}

/// Calls `consume` on every chunk of `path` in order while a second thread decodes the chunks
/// after it (at most two waiting), and returns the number of rows read. The first error, from
/// reading or from `consume`, stops both. A file without rows is [`PipelineError::EmptyFile`].
/// At most [`max_streams`] run at once in a process; others wait for a slot.
///
/// ```no_run
/// let mut longest = 0i64;
/// mlpipeline::data::stream::for_each_chunk("yellow_tripdata_2021-01.parquet", 65_536, |trips| {
///     let d = trips.pickup_ns().iter().zip(trips.dropoff_ns()).map(|(p, d)| d - p);
///     longest = longest.max(d.max().unwrap_or(0));
///     Ok(())
/// })?;
/// # Ok::<(), mlpipeline::PipelineError>(())
/// ```
pub fn for_each_chunk(
    path: impl AsRef<Path>,
    chunk_rows: usize,
    mut consume: impl FnMut(Trips) -> Result<()>,
) -> Result<u64> {
    let path = path.as_ref();
    let _slot = StreamSlot::take();
    let chunks = TripChunks::open(path, chunk_rows)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Trips>>(2);
    let consumed = std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut chunks = chunks;
            for chunk in chunks.by_ref() {
                let failed = chunk.is_err();
                if tx.send(chunk).is_err() || failed {
                    break;
                }
            }
            chunks.rows_read()
        });
        let mut outcome = Ok(());
        for chunk in rx.iter() {
            if let Err(e) = chunk.and_then(&mut consume) {
                outcome = Err(e);
                break;
            }
        }
        // Dropping the receiver stops the producer at its next send.
        drop(rx);
        let rows = producer.join().map_err(|_| PipelineError::Parquet {
            path: path.to_path_buf(),
            message: "the decoding thread panicked".into(),
        })?;
        outcome.map(|()| rows)
    })?;
    if consumed == 0 {
        return Err(PipelineError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(consumed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(ext: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(format!("yellow_tripdata_sample_2021-01.{ext}"))
    }

    #[test]
    fn chunks_hold_the_same_rows_as_a_whole_load() {
        for ext in ["parquet", "csv"] {
            let whole = crate::data::load_data(fixture(ext)).unwrap();
            let mut joined = Trips::with_capacity(whole.color(), 0);
            let mut sizes = Vec::new();
            let rows = for_each_chunk(fixture(ext), 3_000, |chunk| {
                sizes.push(chunk.len());
                joined.append(&chunk);
                Ok(())
            })
            .unwrap();
            assert_eq!(rows, whole.len() as u64, "{ext}");
            assert!(sizes.iter().all(|&n| n <= 3_000), "{ext}: {sizes:?}");
            assert!(sizes.len() >= 7, "{ext}: {sizes:?}");
            // Bit for bit (NaN marks a missing value, and NaN != NaN).
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert!(joined.pickup_ns() == whole.pickup_ns(), "{ext}: pickup");
            assert!(joined.dropoff_ns() == whole.dropoff_ns(), "{ext}: dropoff");
            for (a, b, what) in [
                (
                    joined.pu_location_id(),
                    whole.pu_location_id(),
                    "PULocationID",
                ),
                (
                    joined.do_location_id(),
                    whole.do_location_id(),
                    "DOLocationID",
                ),
                (
                    joined.passenger_count(),
                    whole.passenger_count(),
                    "passenger_count",
                ),
            ] {
                assert!(bits(a) == bits(b), "{ext}: {what}");
            }
        }
    }

    #[test]
    fn an_error_in_the_consumer_stops_the_reading() {
        let mut seen = 0;
        let err = for_each_chunk(fixture("parquet"), 1_000, |_| {
            seen += 1;
            Err(PipelineError::EmptyData {
                context: "stop".into(),
            })
        })
        .unwrap_err();
        assert_eq!(seen, 1);
        assert!(err.to_string().contains("stop"), "{err}");
    }
}
