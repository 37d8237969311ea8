//! The notebook's data preparation: target, outlier filter, categorical encoding, X and y.

use serde::{Deserialize, Serialize};

use crate::data::{Trips, DO_LOCATION_ID, NAT, PASSENGER_COUNT, PU_LOCATION_ID};
use crate::error::{PipelineError, Result};
use crate::features::{DictVectorizer, FeatureColumn, FittedDictVectorizer, Records};
use crate::sparse::CsrMatrix;

/// The categorical columns, in the notebook's order.
pub const CATEGORICAL: [&str; 3] = [PU_LOCATION_ID, DO_LOCATION_ID, PASSENGER_COUNT];

/// How the categorical columns reach the `DictVectorizer`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// What the notebook literally does: integers, so each column is ONE numeric feature
    /// (3 features).
    #[default]
    Notebook,
    /// What the course's later solution does: strings, one-hot encoded as `column=value`.
    #[serde(alias = "one-hot", alias = "one_hot")]
    OneHot,
}

impl Encoding {
    /// The encoding's name: `notebook` or `onehot`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Notebook => "notebook",
            Encoding::OneHot => "onehot",
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Encoding {
    type Err = PipelineError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "notebook" => Ok(Encoding::Notebook),
            "onehot" | "one-hot" | "one_hot" => Ok(Encoding::OneHot),
            other => Err(PipelineError::InvalidParameter {
                name: "encoding",
                message: format!("unknown encoding {other:?}; expected `notebook` or `onehot`"),
            }),
        }
    }
}

/// Settings of [`process`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessOptions {
    /// How categorical columns are encoded.
    pub encoding: Encoding,
    /// Shortest trip kept, minutes (inclusive).
    pub min_duration: f64,
    /// Longest trip kept, minutes (inclusive).
    pub max_duration: f64,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            encoding: Encoding::Notebook,
            min_duration: 1.0,
            max_duration: 60.0,
        }
    }
}

impl ProcessOptions {
    /// The defaults (1 ≤ duration ≤ 60) with the given encoding.
    pub fn with_encoding(encoding: Encoding) -> Self {
        ProcessOptions {
            encoding,
            ..Default::default()
        }
    }
}

/// Trips ready for the vectorizer: the encoded categorical columns and, for training data, the
/// target. A serde type: the `processing` flow persists it (a resumed training run reuses it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessedTrips {
    encoding: Encoding,
    records: Records,
    #[serde(with = "crate::typed_array::option")]
    target: Option<Vec<f64>>,
}

impl ProcessedTrips {
    /// Encodes trips (see [`encode_categorical_columns`]), keeping their target if
    /// [`compute_target`] gave them one.
    pub fn from_trips(trips: &Trips, encoding: Encoding) -> Result<Self> {
        Ok(ProcessedTrips {
            encoding,
            records: encode_categorical_columns(trips, encoding)?,
            target: trips.duration().map(<[f64]>::to_vec),
        })
    }

    /// Encodes trips it takes over: the table's own columns become the encoded ones (in place for
    /// [`Encoding::Notebook`]; each dropped once encoded for [`Encoding::OneHot`]) and its target
    /// moves over, so a month is never held twice.
    ///
    /// ```
    /// use mlpipeline::data::{TaxiColor, Trips};
    /// use mlpipeline::processing::{compute_target, Encoding, ProcessedTrips};
    /// let mut trips = Trips::from_columns(
    ///     TaxiColor::Yellow, vec![0], vec![600_000_000_000], vec![132.0], vec![236.0], vec![f64::NAN],
    /// )?;
    /// compute_target(&mut trips);
    /// let by_ref = ProcessedTrips::from_trips(&trips, Encoding::OneHot)?;
    /// assert_eq!(ProcessedTrips::from_owned_trips(trips, Encoding::OneHot)?, by_ref);
    /// # Ok::<(), mlpipeline::PipelineError>(())
    /// ```
    pub fn from_owned_trips(trips: Trips, encoding: Encoding) -> Result<Self> {
        let n = trips.len();
        let (columns, target) = trips.into_categorical_and_duration();
        let mut records = Records::new(n);
        for (name, values) in CATEGORICAL.into_iter().zip(columns) {
            records.push_column(name, encode_column(name, values, encoding)?)?;
        }
        Ok(ProcessedTrips {
            encoding,
            records,
            target,
        })
    }

    /// Splits into the records and the target.
    pub(crate) fn into_parts(self) -> (Records, Option<Vec<f64>>) {
        (self.records, self.target)
    }

    /// The encoding used.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }
    /// The records fed to the vectorizer.
    pub fn records(&self) -> &Records {
        &self.records
    }
    /// The target (`duration`, minutes), if computed.
    pub fn target(&self) -> Option<&[f64]> {
        self.target.as_deref()
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Adds the target: `duration = (dropoff - pickup)` in minutes (total seconds / 60).
/// A missing timestamp gives `NaN`, which [`filter_outliers`] drops.
pub fn compute_target(trips: &mut Trips) {
    let duration = trips
        .pickup_ns()
        .iter()
        .zip(trips.dropoff_ns())
        .map(|(&p, &d)| {
            if p == NAT || d == NAT {
                return f64::NAN;
            }
            match d.checked_sub(p) {
                Some(ns) => ns as f64 / 1e9 / 60.0,
                None => f64::NAN,
            }
        })
        .collect();
    // Same length by construction.
    let _ = trips.set_duration(duration);
}

/// Keeps the rows with `min_duration <= duration <= max_duration` (pandas `between`).
///
/// Fails if the target has not been computed, if the bounds are invalid, or if no row is left.
pub fn filter_outliers(trips: &mut Trips, min_duration: f64, max_duration: f64) -> Result<()> {
    if min_duration.is_nan() || max_duration.is_nan() || min_duration > max_duration {
        return Err(PipelineError::InvalidParameter {
            name: "min_duration/max_duration",
            message: format!("need min <= max, got [{min_duration}, {max_duration}]"),
        });
    }
    let before = trips.len();
    if !trips.retain_by_duration(|d| d >= min_duration && d <= max_duration) {
        return Err(PipelineError::MissingTarget);
    }
    if trips.is_empty() {
        return Err(PipelineError::EmptyData {
            context: format!(
                "nothing left after filtering outliers: none of the {before} trips has a \
                 duration within [{min_duration}, {max_duration}] minutes"
            ),
        });
    }
    Ok(())
}

/// Encodes `PULocationID`, `DOLocationID`, `passenger_count`: missing → -1, cast to integer
/// (truncating, as pandas `astype(int)`), then numbers ([`Encoding::Notebook`]) or strings
/// ([`Encoding::OneHot`]).
pub fn encode_categorical_columns(trips: &Trips, encoding: Encoding) -> Result<Records> {
    let mut records = Records::new(trips.len());
    for (name, values) in [
        (PU_LOCATION_ID, trips.pu_location_id()),
        (DO_LOCATION_ID, trips.do_location_id()),
        (PASSENGER_COUNT, trips.passenger_count()),
    ] {
        records.push_column(name, encode_column(name, values.to_vec(), encoding)?)?;
    }
    Ok(records)
}

/// Encodes one categorical column it takes over (see [`encode_categorical_columns`]).
fn encode_column(name: &str, mut values: Vec<f64>, encoding: Encoding) -> Result<FeatureColumn> {
    Ok(match encoding {
        Encoding::Notebook => {
            for (row, v) in values.iter_mut().enumerate() {
                *v = to_integer(name, row, *v)? as f64;
            }
            FeatureColumn::Numeric(values)
        }
        Encoding::OneHot => {
            let integers = to_integers(name, &values)?;
            drop(values);
            categorical_from_integers(&integers)
        }
    })
}

fn to_integers(name: &str, values: &[f64]) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(values.len());
    for (row, &v) in values.iter().enumerate() {
        out.push(to_integer(name, row, v)?);
    }
    Ok(out)
}

/// pandas' `fillna(-1).astype(int)` for one value: missing → -1, otherwise truncated.
#[inline]
fn to_integer(name: &str, row: usize, v: f64) -> Result<i64> {
    if v.is_nan() {
        Ok(-1)
    } else if v.abs() < 9.2e18 {
        Ok(v as i64)
    } else {
        Err(PipelineError::NotAnInteger {
            column: name.to_string(),
            row,
            value: v,
        })
    }
}

/// Dictionary-encodes integers as their decimal strings.
fn categorical_from_integers(values: &[i64]) -> FeatureColumn {
    let (min, max) = values
        .iter()
        .fold((i64::MAX, i64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let mut levels = Vec::new();
    let codes: Vec<u32> = if !values.is_empty() && (max as i128 - min as i128) < 1 << 20 {
        let mut slot = vec![u32::MAX; (max - min + 1) as usize];
        values
            .iter()
            .map(|&v| {
                let s = &mut slot[(v - min) as usize];
                if *s == u32::MAX {
                    levels.push(v.to_string());
                    *s = (levels.len() - 1) as u32;
                }
                *s
            })
            .collect()
    } else {
        let mut index = std::collections::HashMap::new();
        values
            .iter()
            .map(|&v| {
                *index.entry(v).or_insert_with(|| {
                    levels.push(v.to_string());
                    (levels.len() - 1) as u32
                })
            })
            .collect()
    };
    FeatureColumn::Categorical { levels, codes }
}

/// The notebook's `extract_x_y`: records → `DictVectorizer` → sparse `X`, and `y` if the data
/// have a target.
///
/// With `vectorizer = None` a new one is fitted on these data (training); otherwise the given
/// fitted one is reused (test and prediction data), so `X` always has its number of features.
pub fn extract_x_y(
    data: &ProcessedTrips,
    vectorizer: Option<&FittedDictVectorizer>,
) -> Result<(CsrMatrix, Option<Vec<f64>>, FittedDictVectorizer)> {
    let (x, dv) = vectorize(&data.records, vectorizer)?;
    Ok((x, data.target.clone(), dv))
}

/// `records` through `vectorizer`, or through one fitted on them.
fn vectorize(
    records: &Records,
    vectorizer: Option<&FittedDictVectorizer>,
) -> Result<(CsrMatrix, FittedDictVectorizer)> {
    let dv = match vectorizer {
        Some(dv) => dv.clone(),
        None => DictVectorizer::new().fit(records),
    };
    Ok((dv.transform(records)?, dv))
}

/// [`extract_x_y`] on data it takes over: the records go once `X` is built and the target moves
/// to `y` without a copy.
pub fn extract_x_y_owned(
    data: ProcessedTrips,
    vectorizer: Option<&FittedDictVectorizer>,
) -> Result<(CsrMatrix, Option<Vec<f64>>, FittedDictVectorizer)> {
    let (records, target) = data.into_parts();
    let (x, dv) = vectorize(&records, vectorizer)?;
    Ok((x, target, dv))
}

/// The one entry point for both cases the course names.
///
/// - `with_target = true` (training / evaluation data): compute the duration, drop outliers,
///   encode.
/// - `with_target = false` (prediction data): encode only; every row is kept.
///
/// ```
/// use mlpipeline::data::{TaxiColor, Trips};
/// use mlpipeline::processing::{process, Encoding, ProcessOptions};
/// let minute = 60_000_000_000;
/// let trips = Trips::from_columns(
///     TaxiColor::Yellow,
///     vec![0, 0],
///     vec![10 * minute, 0],          // 10 minutes, and a zero-length trip
///     vec![132.0, 7.0],
///     vec![236.0, 7.0],
///     vec![1.0, f64::NAN],
/// )?;
/// let p = process(trips.clone(), true, &ProcessOptions::with_encoding(Encoding::OneHot))?;
/// assert_eq!(p.len(), 1);
/// assert_eq!(p.target(), Some(&[10.0][..]));
/// let q = process(trips, false, &ProcessOptions::default())?;
/// assert_eq!(q.len(), 2);
/// # Ok::<(), mlpipeline::PipelineError>(())
/// ```
pub fn process(
    mut trips: Trips,
    with_target: bool,
    options: &ProcessOptions,
) -> Result<ProcessedTrips> {
    if trips.is_empty() {
        return Err(PipelineError::EmptyData {
            context: "no trips to process".into(),
        });
    }
    if with_target {
        compute_target(&mut trips);
        filter_outliers(&mut trips, options.min_duration, options.max_duration)?;
    }
    if !with_target {
        trips.take_duration();
    }
    ProcessedTrips::from_owned_trips(trips, options.encoding)
}
