//! Loading one month of TLC trip records.
//!
//! [`load_data`] reads a parquet or CSV file (chosen by extension) into [`Trips`]: the five
//! columns the pipeline needs, held as plain numeric vectors. Everything else in the file is
//! never read (parquet) or skipped while parsing (CSV).

mod csv;
mod parquet;
pub mod stream;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// The `NaT` marker: a missing timestamp (pandas uses the same value).
pub const NAT: i64 = i64::MIN;

/// Rows per record batch when reading parquet.
pub(crate) const BATCH_SIZE: usize = 64 * 1024;

/// The taxi service a file describes; it decides the timestamp column names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaxiColor {
    /// Yellow taxis: `tpep_pickup_datetime`, `tpep_dropoff_datetime`.
    Yellow,
    /// Green taxis: `lpep_pickup_datetime`, `lpep_dropoff_datetime`.
    Green,
}

impl TaxiColor {
    /// The pickup timestamp column of this color.
    pub fn pickup_column(self) -> &'static str {
        match self {
            TaxiColor::Yellow => "tpep_pickup_datetime",
            TaxiColor::Green => "lpep_pickup_datetime",
        }
    }

    /// The dropoff timestamp column of this color.
    pub fn dropoff_column(self) -> &'static str {
        match self {
            TaxiColor::Yellow => "tpep_dropoff_datetime",
            TaxiColor::Green => "lpep_dropoff_datetime",
        }
    }

    /// The name used in TLC file names (`yellow`, `green`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaxiColor::Yellow => "yellow",
            TaxiColor::Green => "green",
        }
    }
}

impl std::fmt::Display for TaxiColor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Name of the pickup zone column.
pub const PU_LOCATION_ID: &str = "PULocationID";
/// Name of the drop-off zone column.
pub const DO_LOCATION_ID: &str = "DOLocationID";
/// Name of the passenger count column.
pub const PASSENGER_COUNT: &str = "passenger_count";

/// One month of trip records: the columns the pipeline uses, one vector each.
///
/// Timestamps are nanoseconds since the Unix epoch ([`NAT`] when missing); zone IDs and passenger
/// counts are `f64` with `NaN` when missing, exactly as pandas holds a nullable numeric column.
/// After [`crate::processing::compute_target`] the table also has a `duration` column (minutes).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trips {
    color: Option<TaxiColor>,
    pickup_ns: Vec<i64>,
    dropoff_ns: Vec<i64>,
    pu_location_id: Vec<f64>,
    do_location_id: Vec<f64>,
    passenger_count: Vec<f64>,
    duration: Option<Vec<f64>>,
}

impl Trips {
    /// Builds a table from its columns, checking they have the same length.
    ///
    /// ```
    /// use mlpipeline::data::{TaxiColor, Trips};
    /// let t = Trips::from_columns(
    ///     TaxiColor::Yellow,
    ///     vec![0],
    ///     vec![600_000_000_000],
    ///     vec![132.0],
    ///     vec![236.0],
    ///     vec![f64::NAN],
    /// )?;
    /// assert_eq!(t.len(), 1);
    /// # Ok::<(), mlpipeline::PipelineError>(())
    /// ```
    pub fn from_columns(
        color: TaxiColor,
        pickup_ns: Vec<i64>,
        dropoff_ns: Vec<i64>,
        pu_location_id: Vec<f64>,
        do_location_id: Vec<f64>,
        passenger_count: Vec<f64>,
    ) -> Result<Self> {
        let n = pickup_ns.len();
        for (name, len) in [
            (color.dropoff_column(), dropoff_ns.len()),
            (PU_LOCATION_ID, pu_location_id.len()),
            (DO_LOCATION_ID, do_location_id.len()),
            (PASSENGER_COUNT, passenger_count.len()),
        ] {
            if len != n {
                return Err(PipelineError::LengthMismatch {
                    column: name.to_string(),
                    expected: n,
                    actual: len,
                });
            }
        }
        Ok(Trips {
            color: Some(color),
            pickup_ns,
            dropoff_ns,
            pu_location_id,
            do_location_id,
            passenger_count,
            duration: None,
        })
    }

    /// The taxi color the file was detected as.
    pub fn color(&self) -> TaxiColor {
        self.color.unwrap_or(TaxiColor::Yellow)
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.pickup_ns.len()
    }
    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.pickup_ns.is_empty()
    }
    /// Pickup timestamps, nanoseconds since the epoch ([`NAT`] if missing).
    pub fn pickup_ns(&self) -> &[i64] {
        &self.pickup_ns
    }
    /// Dropoff timestamps, nanoseconds since the epoch ([`NAT`] if missing).
    pub fn dropoff_ns(&self) -> &[i64] {
        &self.dropoff_ns
    }
    /// Pickup zone IDs (`NaN` if missing).
    pub fn pu_location_id(&self) -> &[f64] {
        &self.pu_location_id
    }
    /// Drop-off zone IDs (`NaN` if missing).
    pub fn do_location_id(&self) -> &[f64] {
        &self.do_location_id
    }
    /// Passenger counts (`NaN` if missing).
    pub fn passenger_count(&self) -> &[f64] {
        &self.passenger_count
    }
    /// Trip durations in minutes, once computed.
    pub fn duration(&self) -> Option<&[f64]> {
        self.duration.as_deref()
    }

    /// Sets the `duration` column (minutes).
    pub fn set_duration(&mut self, duration: Vec<f64>) -> Result<()> {
        if duration.len() != self.len() {
            return Err(PipelineError::LengthMismatch {
                column: "duration".into(),
                expected: self.len(),
                actual: duration.len(),
            });
        }
        self.duration = Some(duration);
        Ok(())
    }

    /// Keeps only the rows for which `keep` is true, in order.
    pub fn retain_rows(&mut self, keep: &[bool]) -> Result<()> {
        if keep.len() != self.len() {
            return Err(PipelineError::ShapeMismatch {
                context: "Trips::retain_rows mask".into(),
                expected: self.len(),
                actual: keep.len(),
            });
        }
        self.retain_loaded(|r| keep[r]);
        if let Some(d) = self.duration.as_mut() {
            retain_where(d, |r| keep[r]);
        }
        Ok(())
    }

    /// Keeps only the rows whose duration satisfies `keep`, in order, without a mask (the
    /// duration column is compacted last, so each column reads the original durations).
    /// Returns `false` (and changes nothing) if there is no duration column.
    pub(crate) fn retain_by_duration(&mut self, keep: impl Fn(f64) -> bool) -> bool {
        let Some(mut duration) = self.duration.take() else {
            return false;
        };
        self.retain_loaded(|r| keep(duration[r]));
        duration.retain(|&d| keep(d));
        self.duration = Some(duration);
        true
    }

    /// Keeps the rows `r` of the five loaded columns for which `keep(r)` is true.
    fn retain_loaded(&mut self, keep: impl Fn(usize) -> bool) {
        retain_where(&mut self.pickup_ns, &keep);
        retain_where(&mut self.dropoff_ns, &keep);
        retain_where(&mut self.pu_location_id, &keep);
        retain_where(&mut self.do_location_id, &keep);
        retain_where(&mut self.passenger_count, &keep);
    }

    /// Appends all rows of `other` (which must be of the same color).
    pub fn append(&mut self, other: &Trips) {
        self.pickup_ns.extend_from_slice(&other.pickup_ns);
        self.dropoff_ns.extend_from_slice(&other.dropoff_ns);
        self.pu_location_id.extend_from_slice(&other.pu_location_id);
        self.do_location_id.extend_from_slice(&other.do_location_id);
        self.passenger_count
            .extend_from_slice(&other.passenger_count);
        self.duration = None;
    }

    pub(crate) fn with_capacity(color: TaxiColor, n: usize) -> Self {
        Trips {
            color: Some(color),
            pickup_ns: Vec::with_capacity(n),
            dropoff_ns: Vec::with_capacity(n),
            pu_location_id: Vec::with_capacity(n),
            do_location_id: Vec::with_capacity(n),
            passenger_count: Vec::with_capacity(n),
            duration: None,
        }
    }

    /// A table of `n` rows of placeholder values, to be filled in by a reader.
    pub(crate) fn with_len(color: TaxiColor, n: usize) -> Self {
        Trips {
            color: Some(color),
            pickup_ns: vec![NAT; n],
            dropoff_ns: vec![NAT; n],
            pu_location_id: vec![f64::NAN; n],
            do_location_id: vec![f64::NAN; n],
            passenger_count: vec![f64::NAN; n],
            duration: None,
        }
    }

    /// Takes the `duration` column out of the table.
    pub fn take_duration(&mut self) -> Option<Vec<f64>> {
        self.duration.take()
    }

    pub(crate) fn columns_mut(&mut self) -> ColumnsMut<'_> {
        (
            &mut self.pickup_ns,
            &mut self.dropoff_ns,
            &mut self.pu_location_id,
            &mut self.do_location_id,
            &mut self.passenger_count,
        )
    }

    /// Takes the three categorical columns (zones, passenger count) and the `duration`, dropping
    /// the timestamps: what encoding keeps of a table it consumes.
    pub(crate) fn into_categorical_and_duration(self) -> ([Vec<f64>; 3], Option<Vec<f64>>) {
        (
            [
                self.pu_location_id,
                self.do_location_id,
                self.passenger_count,
            ],
            self.duration,
        )
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.pickup_ns.shrink_to_fit();
        self.dropoff_ns.shrink_to_fit();
        self.pu_location_id.shrink_to_fit();
        self.do_location_id.shrink_to_fit();
        self.passenger_count.shrink_to_fit();
    }
}

/// Keeps the elements `v[r]` for which `keep(r)` is true, in order.
fn retain_where<T: Copy>(v: &mut Vec<T>, keep: impl Fn(usize) -> bool) {
    let mut w = 0;
    for r in 0..v.len() {
        if keep(r) {
            v[w] = v[r];
            w += 1;
        }
    }
    v.truncate(w);
}

/// Mutable access to the five loaded columns, for the readers.
pub(crate) type ColumnsMut<'a> = (
    &'a mut Vec<i64>,
    &'a mut Vec<i64>,
    &'a mut Vec<f64>,
    &'a mut Vec<f64>,
    &'a mut Vec<f64>,
);

/// The file formats [`load_data`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Apache Parquet (what the TLC publishes).
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
}

impl FileFormat {
    /// The format of `path`, from its extension (`.parquet`, `.csv`; case-insensitive).
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => Ok(FileFormat::Parquet),
            "csv" => Ok(FileFormat::Csv),
            _ => Err(PipelineError::UnsupportedFormat {
                path: path.to_path_buf(),
                extension: ext,
            }),
        }
    }
}

/// Loads one month of trip records from a parquet or CSV file, chosen by the file's extension.
///
/// Only the pickup and dropoff timestamps, `PULocationID`, `DOLocationID` and
/// `passenger_count` are read. Yellow (`tpep_`) and green (`lpep_`) files are told apart by
/// their column names.
///
/// ```no_run
/// let trips = mlpipeline::data::load_data("yellow_tripdata_2021-01.parquet")?;
/// println!("{} trips", trips.len());
/// # Ok::<(), mlpipeline::PipelineError>(())
/// ```
pub fn load_data(path: impl AsRef<Path>) -> Result<Trips> {
    let path = path.as_ref();
    let format = readable_format(path)?;
    let trips = match format {
        FileFormat::Parquet => parquet::load(path)?,
        FileFormat::Csv => csv::load(path)?,
    };
    if trips.is_empty() {
        return Err(PipelineError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(trips)
}

/// The format of a trip file that exists and is not empty (the checks before reading it).
pub(crate) fn readable_format(path: &Path) -> Result<FileFormat> {
    let format = FileFormat::from_path(path)?;
    let meta = std::fs::metadata(path).map_err(|source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() == 0 {
        return Err(PipelineError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(format)
}

/// The positions of the needed columns in a file's header.
pub(crate) struct ColumnPositions {
    pub color: TaxiColor,
    /// pickup, dropoff, PULocationID, DOLocationID, passenger_count
    pub positions: [usize; 5],
}

/// Finds the needed columns among `names`: exact match first, then case-insensitive.
pub(crate) fn locate_columns(path: &Path, names: &[String]) -> Result<ColumnPositions> {
    let find = |wanted: &str| -> Option<usize> {
        names.iter().position(|n| n == wanted).or_else(|| {
            names
                .iter()
                .position(|n| n.trim().eq_ignore_ascii_case(wanted))
        })
    };
    let color = if find(TaxiColor::Yellow.pickup_column()).is_some() {
        TaxiColor::Yellow
    } else if find(TaxiColor::Green.pickup_column()).is_some()
        || find(TaxiColor::Green.dropoff_column()).is_some()
    {
        TaxiColor::Green
    } else {
        TaxiColor::Yellow
    };
    let wanted = [
        color.pickup_column(),
        color.dropoff_column(),
        PU_LOCATION_ID,
        DO_LOCATION_ID,
        PASSENGER_COUNT,
    ];
    let mut positions = [0usize; 5];
    for (slot, name) in positions.iter_mut().zip(wanted) {
        *slot = find(name).ok_or_else(|| PipelineError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            found: names.to_vec(),
        })?;
    }
    Ok(ColumnPositions { color, positions })
}

/// A progress bar on stderr when it is a terminal and the load is long enough to need one.
pub(crate) fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if total >= 200_000 && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {human_pos}/{human_len} rows ({elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        bar
    } else {
        indicatif::ProgressBar::hidden()
    }
}
