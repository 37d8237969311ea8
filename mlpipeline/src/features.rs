//! Turning records into a feature matrix: scikit-learn's `DictVectorizer`.
//!
//! The notebook feeds `df.to_dict(orient="records")` to the vectorizer. [`Records`] is the same
//! list of dicts held by column: a numeric column passes through as one feature named by the
//! column; a categorical (string) column is one-hot encoded with one feature per `column=value`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::sparse::{exact_i32, CsrMatrix};

/// The values of one key of the records.
///
/// Serialized (a persisted `processing` result) as CBOR typed arrays (RFC 8746) in a binary format —
/// written for CBOR, flowcore's result format — and as arrays of numbers in a human-readable one
/// (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FeatureColumn {
    /// Numbers: one feature, named by the column, with the value as is.
    Numeric(#[serde(with = "crate::typed_array")] Vec<f64>),
    /// Strings, dictionary-encoded: row `i` has the value `levels[codes[i]]`.
    Categorical {
        /// The distinct strings.
        levels: Vec<String>,
        /// For each row, the position of its string in `levels`.
        #[serde(with = "crate::typed_array")]
        codes: Vec<u32>,
    },
}

impl FeatureColumn {
    fn len(&self) -> usize {
        match self {
            FeatureColumn::Numeric(v) => v.len(),
            FeatureColumn::Categorical { codes, .. } => codes.len(),
        }
    }

    /// Dictionary-encodes string values.
    pub fn from_strings<S: AsRef<str>>(values: &[S]) -> Self {
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut levels = Vec::new();
        let codes = values
            .iter()
            .map(|v| {
                let v = v.as_ref();
                *index.entry(v).or_insert_with(|| {
                    levels.push(v.to_string());
                    (levels.len() - 1) as u32
                })
            })
            .collect();
        FeatureColumn::Categorical { levels, codes }
    }
}

/// A list of records (dicts) with the same keys, held by column.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Records {
    n_rows: usize,
    columns: Vec<(String, FeatureColumn)>,
}

impl Records {
    /// An empty set of `n_rows` records without keys.
    pub fn new(n_rows: usize) -> Self {
        Records {
            n_rows,
            columns: Vec::new(),
        }
    }

    /// Adds a key with a value for every record.
    ///
    /// ```
    /// use mlpipeline::features::{FeatureColumn, Records};
    /// let mut r = Records::new(2);
    /// r.push_column("passenger_count", FeatureColumn::Numeric(vec![1.0, 2.0]))?;
    /// r.push_column("PULocationID", FeatureColumn::from_strings(&["132", "7"]))?;
    /// assert_eq!(r.len(), 2);
    /// # Ok::<(), mlpipeline::PipelineError>(())
    /// ```
    pub fn push_column(&mut self, name: impl Into<String>, column: FeatureColumn) -> Result<()> {
        let name = name.into();
        if column.len() != self.n_rows {
            return Err(PipelineError::LengthMismatch {
                column: name,
                expected: self.n_rows,
                actual: column.len(),
            });
        }
        if let FeatureColumn::Categorical { levels, codes } = &column {
            if let Some(&c) = codes.iter().find(|&&c| c as usize >= levels.len()) {
                return Err(PipelineError::ShapeMismatch {
                    context: format!(
                        "categorical column `{name}`: code below the number of levels"
                    ),
                    expected: levels.len(),
                    actual: c as usize,
                });
            }
        }
        self.columns.push((name, column));
        Ok(())
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.n_rows
    }
    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.n_rows == 0
    }
    /// The keys and their values.
    pub fn columns(&self) -> &[(String, FeatureColumn)] {
        &self.columns
    }
}

/// Separator between a key and a string value in one-hot feature names (`PULocationID=132`).
pub const SEPARATOR: &str = "=";

/// scikit-learn's `DictVectorizer` (with `sort=True`, `separator="="`), before fitting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DictVectorizer;

impl DictVectorizer {
    /// A vectorizer with scikit-learn's defaults.
    pub fn new() -> Self {
        DictVectorizer
    }

    /// Learns the feature names from `records`: one per numeric key, one per `key=value` seen
    /// for a string key; sorted as strings.
    ///
    /// ```
    /// use mlpipeline::features::{DictVectorizer, FeatureColumn, Records};
    /// let mut r = Records::new(3);
    /// r.push_column("PULocationID", FeatureColumn::from_strings(&["2", "10", "2"]))?;
    /// r.push_column("trip_distance", FeatureColumn::Numeric(vec![1.5, 0.3, 2.0]))?;
    /// let dv = DictVectorizer::new().fit(&r);
    /// assert_eq!(dv.feature_names(), ["PULocationID=10", "PULocationID=2", "trip_distance"]);
    /// let x = dv.transform(&r)?;
    /// assert_eq!(x.to_dense()[0], vec![0.0, 1.0, 1.5]);
    /// # Ok::<(), mlpipeline::PipelineError>(())
    /// ```
    pub fn fit(&self, records: &Records) -> FittedDictVectorizer {
        let mut names: Vec<String> = Vec::new();
        for (key, column) in &records.columns {
            match column {
                FeatureColumn::Numeric(_) => names.push(key.clone()),
                FeatureColumn::Categorical { levels, codes } => {
                    let mut seen = vec![false; levels.len()];
                    for &c in codes {
                        seen[c as usize] = true;
                    }
                    names.extend(
                        levels
                            .iter()
                            .zip(seen)
                            .filter(|(_, s)| *s)
                            .map(|(l, _)| format!("{key}{SEPARATOR}{l}")),
                    );
                }
            }
        }
        names.sort_unstable();
        names.dedup();
        FittedDictVectorizer::from_sorted_names(names)
    }
}

/// A fitted `DictVectorizer`: a fixed, sorted list of feature names.
///
/// Transforming always yields a matrix with exactly [`n_features`](Self::n_features) columns;
/// values not seen at fit time are ignored (all-zero for that key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "VectorizerFile", into = "VectorizerFile")]
pub struct FittedDictVectorizer {
    feature_names: Vec<String>,
    vocabulary: HashMap<String, u32>,
}

#[derive(Serialize, Deserialize)]
struct VectorizerFile {
    feature_names: Vec<String>,
}

impl From<FittedDictVectorizer> for VectorizerFile {
    fn from(v: FittedDictVectorizer) -> Self {
        VectorizerFile {
            feature_names: v.feature_names,
        }
    }
}

impl TryFrom<VectorizerFile> for FittedDictVectorizer {
    type Error = String;
    fn try_from(f: VectorizerFile) -> std::result::Result<Self, String> {
        if let Some(w) = f.feature_names.windows(2).find(|w| w[0] >= w[1]) {
            return Err(format!(
                "feature names must be sorted and unique, found {:?} before {:?}",
                w[0], w[1]
            ));
        }
        if f.feature_names.len() > u32::MAX as usize {
            return Err("too many feature names".into());
        }
        Ok(FittedDictVectorizer::from_sorted_names(f.feature_names))
    }
}

impl FittedDictVectorizer {
    pub(crate) fn from_sorted_names(feature_names: Vec<String>) -> Self {
        let vocabulary = feature_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        FittedDictVectorizer {
            feature_names,
            vocabulary,
        }
    }

    /// The feature names, sorted (scikit-learn's `get_feature_names_out()`).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Number of features (columns of every transformed matrix).
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// The column of a feature name.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.vocabulary.get(name).map(|&i| i as usize)
    }

    /// Turns records into a sparse matrix with [`n_features`](Self::n_features) columns.
    pub fn transform(&self, records: &Records) -> Result<CsrMatrix> {
        enum Map {
            Numeric(Option<u32>),
            Categorical(Vec<Option<u32>>),
        }
        let maps: Vec<Map> = records
            .columns
            .iter()
            .map(|(key, column)| match column {
                FeatureColumn::Numeric(_) => {
                    Map::Numeric(self.vocabulary.get(key.as_str()).copied())
                }
                FeatureColumn::Categorical { levels, .. } => Map::Categorical(
                    levels
                        .iter()
                        .map(|l| {
                            self.vocabulary
                                .get(&format!("{key}{SEPARATOR}{l}"))
                                .copied()
                        })
                        .collect(),
                ),
            })
            .collect();
        let n = records.n_rows;
        let k = records.columns.len();
        let ncols = self.n_features();
        // Every key numeric and each its own feature, all features covered: every row stores
        // every column, so only the values are kept (the notebook encoding).
        let mut dense: Vec<(u32, &[f64])> = records
            .columns
            .iter()
            .zip(&maps)
            .filter_map(|((_, column), map)| match (column, map) {
                (FeatureColumn::Numeric(values), Map::Numeric(Some(j))) => {
                    Some((*j, values.as_slice()))
                }
                _ => None,
            })
            .collect();
        dense.sort_unstable_by_key(|&(j, _)| j);
        if dense.len() == k
            && k == ncols
            && dense.iter().enumerate().all(|(c, &(j, _))| j as usize == c)
        {
            // Integers (the notebook encoding's) are kept as such: half the memory.
            let mut ints = Vec::with_capacity(n * k);
            let integral = (0..n).all(|r| {
                dense
                    .iter()
                    .all(|&(_, column)| exact_i32(column[r]).map(|v| ints.push(v)).is_some())
            });
            if integral {
                return Ok(CsrMatrix::dense_int(n, ncols, ints));
            }
            drop(ints);
            let mut values = Vec::with_capacity(n * k);
            for r in 0..n {
                values.extend(dense.iter().map(|&(_, column)| column[r]));
            }
            return Ok(CsrMatrix::dense(n, ncols, values));
        }
        let mut indptr = Vec::with_capacity(n + 1);
        let mut indices: Vec<u32> = Vec::with_capacity(n * k);
        // Not kept while every value is one (one-hot): built at the first other value.
        let mut data: Option<Vec<f64>> = None;
        indptr.push(0);
        let mut row: Vec<(u32, f64)> = Vec::with_capacity(k);
        for r in 0..n {
            row.clear();
            for ((_, column), map) in records.columns.iter().zip(&maps) {
                match (column, map) {
                    (FeatureColumn::Numeric(values), Map::Numeric(Some(j))) => {
                        row.push((*j, values[r]))
                    }
                    (FeatureColumn::Categorical { codes, .. }, Map::Categorical(m)) => {
                        if let Some(j) = m[codes[r] as usize] {
                            row.push((j, 1.0));
                        }
                    }
                    _ => {}
                }
            }
            row.sort_unstable_by_key(|&(j, _)| j);
            let start = indices.len();
            for &(j, v) in &row {
                // Two keys mapping to one feature add up, as in scikit-learn's matrix.
                let repeated = indices.len() > start && indices[indices.len() - 1] == j;
                if data.is_none() && (repeated || v != 1.0) {
                    let mut all = Vec::with_capacity(n * k);
                    all.resize(indices.len(), 1.0);
                    data = Some(all);
                }
                if repeated {
                    if let Some(last) = data.as_mut().and_then(|d| d.last_mut()) {
                        *last += v;
                    }
                } else {
                    indices.push(j);
                    if let Some(data) = data.as_mut() {
                        data.push(v);
                    }
                }
            }
            indptr.push(indices.len());
        }
        Ok(match data {
            None => CsrMatrix::ones(n, ncols, indptr, indices),
            Some(data) => CsrMatrix::from_parts_unchecked(n, ncols, indptr, indices, data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn general(m: &CsrMatrix) -> CsrMatrix {
        CsrMatrix::from_parts(
            m.nrows(),
            m.ncols(),
            m.indptr().to_vec(),
            m.indices().to_vec(),
            m.data().to_vec(),
        )
        .unwrap()
    }

    #[test]
    fn numbers_and_one_hot_keys_transform_alike_whatever_the_layout() {
        let mut numeric = Records::new(2);
        numeric
            .push_column("b", FeatureColumn::Numeric(vec![2.0, 0.0]))
            .unwrap();
        numeric
            .push_column("a", FeatureColumn::Numeric(vec![1.0, 3.0]))
            .unwrap();
        let x = DictVectorizer::new()
            .fit(&numeric)
            .transform(&numeric)
            .unwrap();
        // Sorted features: a, b; the zero is stored, as scikit-learn's matrix does.
        assert_eq!(x.to_dense(), vec![vec![1.0, 2.0], vec![3.0, 0.0]]);
        assert_eq!(x.nnz(), 4);
        assert_eq!(x, general(&x));
        // Fractions, and a negative zero (an integer would lose its sign), stay as they are.
        for odd in [0.5, -0.0] {
            let mut r = Records::new(2);
            r.push_column("a", FeatureColumn::Numeric(vec![1.0, odd]))
                .unwrap();
            let x = DictVectorizer::new().fit(&r).transform(&r).unwrap();
            assert_eq!(x.data()[1].to_bits(), odd.to_bits());
            assert_eq!(x, general(&x));
        }

        let mut onehot = Records::new(3);
        onehot
            .push_column("z", FeatureColumn::from_strings(&["1", "2", "1"]))
            .unwrap();
        let dv = DictVectorizer::new().fit(&onehot);
        let x = dv.transform(&onehot).unwrap();
        assert_eq!(x.data(), &[1.0, 1.0, 1.0]);
        assert_eq!(x, general(&x));
        // A value unseen at fit time stores nothing for its key.
        let mut unseen = Records::new(2);
        unseen
            .push_column("z", FeatureColumn::from_strings(&["3", "2"]))
            .unwrap();
        let x = dv.transform(&unseen).unwrap();
        assert_eq!(x.indptr(), &[0, 0, 1]);
        assert_eq!(x.to_dense(), vec![vec![0.0, 0.0], vec![0.0, 1.0]]);
    }

    #[test]
    fn two_keys_naming_one_feature_add_up() {
        // `a=b` + `c` and `a` + `b=c` both name the feature `a=b=c`.
        let mut r = Records::new(1);
        r.push_column("a=b", FeatureColumn::from_strings(&["c"]))
            .unwrap();
        r.push_column("a", FeatureColumn::from_strings(&["b=c"]))
            .unwrap();
        let x = DictVectorizer::new().fit(&r).transform(&r).unwrap();
        assert_eq!(x.ncols(), 1);
        assert_eq!(x.data(), &[2.0]);
    }
}
