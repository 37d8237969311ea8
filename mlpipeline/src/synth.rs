//! A deterministic generator of TLC-schema trip records, for samples and benchmarks.
//!
//! Real TLC files cannot be fetched everywhere, so this writes months that look like them: all
//! 19 yellow columns (or the 20 green ones) with the TLC's types (microsecond timestamps, float
//! passenger counts with nulls), zone popularity that follows a skewed (Zipf-like) law, distances
//! from zone positions, durations that depend on distance and on how congested the two zones are,
//! ~5 % unusable durations (zero, negative, or over an hour) and ~7 % null passenger counts (with
//! the other fields that are null together with it in real files). The same [`SynthConfig`]
//! always gives the same rows, in parquet (snappy) or CSV.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::civil::push_timestamp;
use crate::data::{TaxiColor, BATCH_SIZE};
use crate::error::{PipelineError, Result};
use crate::rng::Rng;

/// Number of taxi zones (IDs 1..=265, as in the TLC's zone lookup table).
pub const N_ZONES: usize = 265;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthConfig {
    /// Number of trips.
    pub rows: usize,
    /// Year of the month.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Yellow or green schema.
    pub color: TaxiColor,
    /// Random seed; zone properties depend on it only, trips also on the month.
    pub seed: u64,
}

impl Default for SynthConfig {
    /// The size of the real yellow 2021-01 file: 1,369,769 rows.
    fn default() -> Self {
        SynthConfig {
            rows: 1_369_769,
            year: 2021,
            month: 1,
            color: TaxiColor::Yellow,
            seed: 42,
        }
    }
}

impl SynthConfig {
    /// The TLC file name of this month without extension, e.g. `yellow_tripdata_2021-01`.
    pub fn file_stem(&self) -> String {
        format!("{}_tripdata_{:04}-{:02}", self.color, self.year, self.month)
    }

    fn validate(&self) -> Result<()> {
        if !(1..=12).contains(&self.month) {
            return Err(PipelineError::InvalidParameter {
                name: "month",
                message: format!("{} is not a month (1-12)", self.month),
            });
        }
        if !(1970..=2200).contains(&self.year) {
            return Err(PipelineError::InvalidParameter {
                name: "year",
                message: format!("{} is outside 1970-2200", self.year),
            });
        }
        Ok(())
    }
}

/// Fixed properties of the zones.
#[derive(Debug, Clone)]
struct Zones {
    /// Cumulative popularity, for sampling by binary search.
    cumulative: Vec<f64>,
    /// Position, km.
    position: Vec<(f64, f64)>,
    /// Congestion factor (> 1 is slower).
    congestion: Vec<f64>,
}

impl Zones {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed ^ 0x5EED_2013_0000_0000);
        // Ranks: a random permutation of the zones; weight 1 / rank^1.2 (Zipf-like).
        let mut order: Vec<usize> = (0..N_ZONES).collect();
        for i in (1..N_ZONES).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut weight = vec![0.0; N_ZONES];
        let mut position = vec![(0.0, 0.0); N_ZONES];
        let mut congestion = vec![1.0; N_ZONES];
        for (rank, &zone) in order.iter().enumerate() {
            weight[zone] = 1.0 / ((rank + 1) as f64).powf(1.2);
            // Popular zones sit near the center (Manhattan), rare ones farther out.
            let radius = 1.0 + 10.0 * (rank as f64 / N_ZONES as f64).sqrt() * rng.f64();
            let angle = std::f64::consts::TAU * rng.f64();
            position[zone] = (radius * angle.cos(), radius * angle.sin());
            congestion[zone] = 0.7 + 0.8 * (-(rank as f64) / 60.0).exp() + 0.2 * rng.f64();
        }
        let total: f64 = weight.iter().sum();
        let mut acc = 0.0;
        let cumulative = weight
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Zones {
            cumulative,
            position,
            congestion,
        }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.f64();
        self.cumulative.partition_point(|&c| c < u).min(N_ZONES - 1)
    }
}

/// One generated trip (all fields of both schemas).
#[derive(Debug, Clone, Copy, Default)]
struct Trip {
    vendor: i64,
    pickup_us: i64,
    dropoff_us: i64,
    passenger_count: Option<f64>,
    distance: f64,
    ratecode: Option<f64>,
    store_and_fwd: Option<bool>,
    pu: i64,
    dol: i64,
    payment_type: Option<i64>,
    fare: f64,
    extra: f64,
    mta_tax: f64,
    tip: f64,
    tolls: f64,
    improvement: f64,
    total: f64,
    congestion_surcharge: Option<f64>,
    airport_fee: Option<f64>,
    trip_type: Option<f64>,
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Produces the trips of one month, batch by batch, as arrow record batches.
#[derive(Debug, Clone)]
pub struct TripGenerator {
    config: SynthConfig,
    zones: Zones,
    rng: Rng,
    row: usize,
    month_start_us: i64,
    month_us: i64,
    schema: SchemaRef,
}

impl TripGenerator {
    /// A generator for `config`.
    pub fn new(config: SynthConfig) -> Result<Self> {
        config.validate()?;
        let days = |y: i32, m: u32| crate::civil::days_from_civil(i64::from(y), i64::from(m), 1);
        let start = days(config.year, config.month);
        let (ny, nm) = if config.month == 12 {
            (config.year + 1, 1)
        } else {
            (config.year, config.month + 1)
        };
        let end = days(ny, nm);
        let month_key = (config.year as u64) * 12 + u64::from(config.month);
        Ok(TripGenerator {
            config,
            zones: Zones::new(config.seed),
            rng: Rng(config.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ month_key),
            row: 0,
            month_start_us: start * 86_400_000_000,
            month_us: (end - start) * 86_400_000_000,
            schema: schema(config.color),
        })
    }

    /// The arrow schema of the generated batches (the TLC's column names and types).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn trip(&mut self) -> Trip {
        let rng = &mut self.rng;
        let zones = &self.zones;
        let pu = zones.sample(rng);
        // A third of trips stay in the neighbourhood; the rest go by popularity.
        let dol = if rng.f64() < 0.3 {
            let (px, py) = zones.position[pu];
            let mut best = pu;
            let mut best_d = f64::INFINITY;
            for _ in 0..4 {
                let z = zones.sample(rng);
                let (x, y) = zones.position[z];
                let d = (x - px).hypot(y - py);
                if d < best_d {
                    best = z;
                    best_d = d;
                }
            }
            best
        } else {
            zones.sample(rng)
        };
        let (ax, ay) = zones.position[pu];
        let (bx, by) = zones.position[dol];
        let km = 1.2 * (ax - bx).hypot(ay - by) + 0.3 + 1.2 * rng.f64();
        let miles = cents(km / 1.609);
        let speed = 22.0 / (zones.congestion[pu] * zones.congestion[dol]).sqrt()
            * (0.25 * rng.normal()).exp();
        let mut minutes = 1.5 + km / speed * 60.0 + 2.0 * rng.f64();

        // ~5 % unusable durations: zero, negative, or over an hour.
        let u = rng.f64();
        if u < 0.015 {
            minutes = 0.0;
        } else if u < 0.025 {
            minutes = -(1.0 + 30.0 * rng.f64());
        } else if u < 0.05 {
            minutes = 61.0 + 1_380.0 * rng.f64();
        }
        let step = self.month_us / self.config.rows.max(1) as i64;
        let pickup_us = self.month_start_us
            + (self.row as i64) * step
            + (rng.f64() * step as f64) as i64 / 1_000_000 * 1_000_000;
        let pickup_us = pickup_us / 1_000_000 * 1_000_000;
        let dropoff_us = pickup_us + (minutes * 60.0).round() as i64 * 1_000_000;

        // ~7 % of trips come without passenger count, rate code, flag, payment type and
        // surcharges (in real files these are the "unknown vendor" rows).
        let known = rng.f64() >= 0.07;
        let passenger_count = known.then(|| {
            let u = rng.f64();
            match u {
                u if u < 0.02 => 0.0,
                u if u < 0.72 => 1.0,
                u if u < 0.87 => 2.0,
                u if u < 0.91 => 3.0,
                u if u < 0.93 => 4.0,
                u if u < 0.97 => 5.0,
                _ => 6.0,
            }
        });
        let payment_type = known.then(|| if rng.f64() < 0.7 { 1 } else { 2 });
        let ride_minutes = minutes.clamp(0.0, 180.0);
        let fare = cents(2.5 + 2.5 * miles + 0.5 * ride_minutes);
        let extra = if rng.f64() < 0.4 { 0.5 } else { 0.0 };
        let tip = if payment_type == Some(1) {
            cents(fare * (0.1 + 0.15 * rng.f64()))
        } else {
            0.0
        };
        let tolls = if km > 15.0 && rng.f64() < 0.3 {
            6.12
        } else {
            0.0
        };
        let congestion_surcharge = known.then_some(2.5);
        let airport_fee = known.then_some(0.0);
        let total =
            cents(fare + extra + 0.5 + tip + tolls + 0.3 + congestion_surcharge.unwrap_or(0.0));
        Trip {
            vendor: if known { 1 + rng.below(2) as i64 } else { 6 },
            pickup_us,
            dropoff_us,
            passenger_count,
            distance: miles,
            ratecode: known.then_some(1.0),
            store_and_fwd: known.then(|| rng.f64() < 0.01),
            pu: pu as i64 + 1,
            dol: dol as i64 + 1,
            payment_type,
            fare,
            extra,
            mta_tax: 0.5,
            tip,
            tolls,
            improvement: 0.3,
            total,
            congestion_surcharge,
            airport_fee,
            trip_type: known.then_some(1.0),
        }
    }

    fn next_trips(&mut self, max_rows: usize) -> Vec<Trip> {
        let n = max_rows.min(self.config.rows - self.row);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.trip());
            self.row += 1;
        }
        out
    }

    /// The next batch of at most `max_rows` trips, or `None` when the month is complete.
    pub fn next_batch(&mut self, max_rows: usize) -> Option<RecordBatch> {
        if self.row >= self.config.rows {
            return None;
        }
        let trips = self.next_trips(max_rows.max(1));
        Some(to_batch(&self.schema, self.config.color, &trips))
    }
}

fn schema(color: TaxiColor) -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, None);
    let f = |name: &str, t: DataType| Field::new(name, t, true);
    use DataType::{Float64 as F, Int64 as I, Utf8 as S};
    let fields = match color {
        TaxiColor::Yellow => vec![
            f("VendorID", I),
            f("tpep_pickup_datetime", ts()),
            f("tpep_dropoff_datetime", ts()),
            f("passenger_count", F),
            f("trip_distance", F),
            f("RatecodeID", F),
            f("store_and_fwd_flag", S),
            f("PULocationID", I),
            f("DOLocationID", I),
            f("payment_type", I),
            f("fare_amount", F),
            f("extra", F),
            f("mta_tax", F),
            f("tip_amount", F),
            f("tolls_amount", F),
            f("improvement_surcharge", F),
            f("total_amount", F),
            f("congestion_surcharge", F),
            f("airport_fee", F),
        ],
        TaxiColor::Green => vec![
            f("VendorID", I),
            f("lpep_pickup_datetime", ts()),
            f("lpep_dropoff_datetime", ts()),
            f("store_and_fwd_flag", S),
            f("RatecodeID", F),
            f("PULocationID", I),
            f("DOLocationID", I),
            f("passenger_count", F),
            f("trip_distance", F),
            f("fare_amount", F),
            f("extra", F),
            f("mta_tax", F),
            f("tip_amount", F),
            f("tolls_amount", F),
            f("ehail_fee", F),
            f("improvement_surcharge", F),
            f("total_amount", F),
            f("payment_type", I),
            f("trip_type", F),
            f("congestion_surcharge", F),
        ],
    };
    Arc::new(Schema::new(fields))
}

/// One column's values for all trips of a batch.
fn column(name: &str, trips: &[Trip]) -> ArrayRef {
    let f = |g: fn(&Trip) -> f64| {
        Arc::new(Float64Array::from_iter_values(trips.iter().map(g))) as ArrayRef
    };
    let fo = |g: fn(&Trip) -> Option<f64>| {
        Arc::new(trips.iter().map(g).collect::<Float64Array>()) as ArrayRef
    };
    let ts = |g: fn(&Trip) -> i64| {
        Arc::new(TimestampMicrosecondArray::from_iter_values(
            trips.iter().map(g),
        )) as ArrayRef
    };
    match name {
        "VendorID" => Arc::new(Int64Array::from_iter_values(trips.iter().map(|t| t.vendor))),
        "tpep_pickup_datetime" | "lpep_pickup_datetime" => ts(|t| t.pickup_us),
        "tpep_dropoff_datetime" | "lpep_dropoff_datetime" => ts(|t| t.dropoff_us),
        "passenger_count" => fo(|t| t.passenger_count),
        "trip_distance" => f(|t| t.distance),
        "RatecodeID" => fo(|t| t.ratecode),
        "store_and_fwd_flag" => Arc::new(
            trips
                .iter()
                .map(|t| t.store_and_fwd.map(|b| if b { "Y" } else { "N" }))
                .collect::<StringArray>(),
        ),
        "PULocationID" => Arc::new(Int64Array::from_iter_values(trips.iter().map(|t| t.pu))),
        "DOLocationID" => Arc::new(Int64Array::from_iter_values(trips.iter().map(|t| t.dol))),
        "payment_type" => Arc::new(trips.iter().map(|t| t.payment_type).collect::<Int64Array>()),
        "fare_amount" => f(|t| t.fare),
        "extra" => f(|t| t.extra),
        "mta_tax" => f(|t| t.mta_tax),
        "tip_amount" => f(|t| t.tip),
        "tolls_amount" => f(|t| t.tolls),
        "ehail_fee" => fo(|_| None),
        "improvement_surcharge" => f(|t| t.improvement),
        "total_amount" => f(|t| t.total),
        "trip_type" => fo(|t| t.trip_type),
        "congestion_surcharge" => fo(|t| t.congestion_surcharge),
        _ => fo(|t| t.airport_fee),
    }
}

fn to_batch(schema: &SchemaRef, _color: TaxiColor, trips: &[Trip]) -> RecordBatch {
    let columns = schema
        .fields()
        .iter()
        .map(|field| column(field.name(), trips))
        .collect();
    // The columns are built to match the schema.
    RecordBatch::try_new(schema.clone(), columns).expect("generated batch matches its schema")
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> PipelineError + '_ {
    move |source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the month as a snappy-compressed parquet file; returns the number of rows.
pub fn write_parquet(config: &SynthConfig, path: impl AsRef<Path>) -> Result<usize> {
    let path = path.as_ref();
    let mut generator = TripGenerator::new(*config)?;
    let file = std::fs::File::create(path).map_err(io_error(path))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(256 * 1024))
        .build();
    let perr = |e: parquet::errors::ParquetError| PipelineError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut writer = ArrowWriter::try_new(file, generator.schema(), Some(props)).map_err(perr)?;
    while let Some(batch) = generator.next_batch(BATCH_SIZE) {
        writer.write(&batch).map_err(perr)?;
    }
    writer.close().map_err(perr)?;
    Ok(config.rows)
}

/// Writes the month as CSV (header row; timestamps `YYYY-MM-DD HH:MM:SS`; nulls empty);
/// returns the number of rows. The rows are the same as [`write_parquet`]'s.
pub fn write_csv(config: &SynthConfig, path: impl AsRef<Path>) -> Result<usize> {
    let path = path.as_ref();
    let mut generator = TripGenerator::new(*config)?;
    let file = std::fs::File::create(path).map_err(io_error(path))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let schema = generator.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    writeln!(out, "{}", names.join(",")).map_err(io_error(path))?;
    let mut line = String::with_capacity(256);
    loop {
        let trips = generator.next_trips(BATCH_SIZE);
        if trips.is_empty() {
            break;
        }
        for t in &trips {
            line.clear();
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                csv_field(&mut line, name, t);
            }
            line.push('\n');
            out.write_all(line.as_bytes()).map_err(io_error(path))?;
        }
    }
    out.flush().map_err(io_error(path))?;
    Ok(config.rows)
}

fn csv_field(line: &mut String, name: &str, t: &Trip) {
    use std::fmt::Write as _;
    let num = |line: &mut String, v: Option<f64>| {
        if let Some(v) = v {
            // `{:?}` keeps the decimal point ("1.0"), like pandas.
            let _ = write!(line, "{v:?}");
        }
    };
    match name {
        "VendorID" => {
            let _ = write!(line, "{}", t.vendor);
        }
        "tpep_pickup_datetime" | "lpep_pickup_datetime" => push_timestamp(line, t.pickup_us),
        "tpep_dropoff_datetime" | "lpep_dropoff_datetime" => push_timestamp(line, t.dropoff_us),
        "passenger_count" => num(line, t.passenger_count),
        "trip_distance" => num(line, Some(t.distance)),
        "RatecodeID" => num(line, t.ratecode),
        "store_and_fwd_flag" => {
            if let Some(b) = t.store_and_fwd {
                line.push(if b { 'Y' } else { 'N' });
            }
        }
        "PULocationID" => {
            let _ = write!(line, "{}", t.pu);
        }
        "DOLocationID" => {
            let _ = write!(line, "{}", t.dol);
        }
        "payment_type" => {
            if let Some(p) = t.payment_type {
                let _ = write!(line, "{p}");
            }
        }
        "fare_amount" => num(line, Some(t.fare)),
        "extra" => num(line, Some(t.extra)),
        "mta_tax" => num(line, Some(t.mta_tax)),
        "tip_amount" => num(line, Some(t.tip)),
        "tolls_amount" => num(line, Some(t.tolls)),
        "ehail_fee" => {}
        "improvement_surcharge" => num(line, Some(t.improvement)),
        "total_amount" => num(line, Some(t.total)),
        "trip_type" => num(line, t.trip_type),
        "congestion_surcharge" => num(line, t.congestion_surcharge),
        _ => num(line, t.airport_fee),
    }
}

/// Which files [`write_month`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Only `<stem>.parquet`.
    Parquet,
    /// Only `<stem>.csv`.
    Csv,
    /// Both.
    Both,
}

/// Writes the month into `dir` under its TLC name (`yellow_tripdata_2021-01.parquet` / `.csv`);
/// returns the paths written.
///
/// ```
/// use mlpipeline::synth::{write_month, OutputFormat, SynthConfig};
/// let dir = std::env::temp_dir().join(format!("mlpipeline-synth-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let config = SynthConfig { rows: 1_000, ..SynthConfig::default() };
/// let paths = write_month(&config, &dir, OutputFormat::Parquet)?;
/// let trips = mlpipeline::data::load_data(&paths[0])?;
/// assert_eq!(trips.len(), 1_000);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), mlpipeline::PipelineError>(())
/// ```
pub fn write_month(
    config: &SynthConfig,
    dir: impl AsRef<Path>,
    format: OutputFormat,
) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut written = Vec::new();
    if matches!(format, OutputFormat::Parquet | OutputFormat::Both) {
        let p = dir.join(format!("{}.parquet", config.file_stem()));
        write_parquet(config, &p)?;
        written.push(p);
    }
    if matches!(format, OutputFormat::Csv | OutputFormat::Both) {
        let p = dir.join(format!("{}.csv", config.file_stem()));
        write_csv(config, &p)?;
        written.push(p);
    }
    Ok(written)
}
