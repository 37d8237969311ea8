//! Least squares from sufficient statistics: fitting on many months without holding them.
//!
//! Ordinary least squares with an intercept needs only `n`, the Gram matrix `XᵀX`, the column
//! sums of `X`, `Xᵀy`, `Σy` and `Σy²`. [`FeatureStatistics`] accumulates them chunk by chunk
//! ([`FeatureStatistics::add`]) over processed trips — `XᵀX` and the column sums exactly, in
//! integers (both encodings give integer features), the target sums with compensated summation —
//! and months merge ([`FeatureStatistics::merge`]): features are matched by name, so the one-hot
//! vocabulary is the union of the months' values, as a `DictVectorizer` fitted on their
//! concatenation gives. [`FeatureStatistics::fit`] then solves exactly as
//! [`LinearRegression::fit`](crate::model::LinearRegression::fit) does with
//! [`Solver::Exact`](crate::model::Solver::Exact): the same centered Gram matrix, bit for bit.
//!
//! ```
//! use mlpipeline::data::{TaxiColor, Trips};
//! use mlpipeline::processing::{process, Encoding, ProcessOptions};
//! use mlpipeline::stats::FeatureStatistics;
//! let minute = 60_000_000_000;
//! let month = |pu: f64| {
//!     let trips = Trips::from_columns(TaxiColor::Yellow, vec![0, 0, 0],
//!         vec![5 * minute, 9 * minute, 12 * minute], vec![pu, 2.0, 3.0], vec![1.0; 3], vec![1.0; 3])?;
//!     process(trips, true, &ProcessOptions::with_encoding(Encoding::OneHot))
//! };
//! let mut stats = FeatureStatistics::new(Encoding::OneHot);
//! stats.add(&month(1.0)?)?;
//! let mut other = FeatureStatistics::new(Encoding::OneHot);
//! other.add(&month(4.0)?)?;
//! stats.merge(&other)?;
//! let fit = stats.fit()?;
//! assert_eq!(fit.n_train, 6);
//! assert_eq!(fit.vectorizer.n_features(), 6); // PU 1, 2, 3, 4 + DO 1 + passengers 1
//! # Ok::<(), mlpipeline::PipelineError>(())
//! ```

use std::collections::HashMap;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::features::{FeatureColumn, FittedDictVectorizer, SEPARATOR};
use crate::metrics::neumaier_add;
use crate::model::FittedLinearRegression;
use crate::processing::{Encoding, ProcessedTrips};

/// Feature values must be integers of at most this magnitude (products and sums then stay exact
/// in 128-bit integers for any number of rows this pipeline can see).
const LIMIT: f64 = i32::MAX as f64;

/// A compensated (Neumaier) sum: the sum and the low bits it lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Sum(f64, f64);

impl Sum {
    #[inline]
    fn add(&mut self, x: f64) {
        neumaier_add(&mut self.0, &mut self.1, x);
    }
    fn merge(&mut self, other: Sum) {
        self.add(other.0);
        self.add(other.1);
    }
    fn value(self) -> f64 {
        self.0 + self.1
    }
}

/// The sufficient statistics of a least-squares fit over processed trips with a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStatistics {
    encoding: Encoding,
    /// Feature names in the order they were first seen.
    names: Vec<String>,
    /// Rows accumulated.
    n: u64,
    /// `XᵀX`, lower triangle: `gram[a][b]` for `b ≤ a`.
    gram: Vec<Vec<i128>>,
    /// Column sums of `X`.
    sums: Vec<i128>,
    /// `Xᵀy`.
    xty: Vec<Sum>,
    /// `Σy`.
    y_sum: Sum,
    /// `Σy²`.
    yy_sum: Sum,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

/// What [`FeatureStatistics::fit`] gives: the vectorizer, the model, and the training numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamingFit {
    /// The feature names, sorted: the `DictVectorizer` fitted on all the rows.
    pub vectorizer: FittedDictVectorizer,
    /// The least-squares model over the vectorizer's features.
    pub model: FittedLinearRegression,
    /// Rows the model was fitted on.
    pub n_train: usize,
    /// RMSE of the model on those rows.
    pub rmse_train: f64,
}

impl FeatureStatistics {
    /// No rows yet, for data processed with `encoding`.
    pub fn new(encoding: Encoding) -> Self {
        FeatureStatistics {
            encoding,
            names: Vec::new(),
            n: 0,
            gram: Vec::new(),
            sums: Vec::new(),
            xty: Vec::new(),
            y_sum: Sum::default(),
            yy_sum: Sum::default(),
            index: HashMap::new(),
        }
    }

    /// The encoding of the data accumulated.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Rows accumulated.
    pub fn n_rows(&self) -> u64 {
        self.n
    }

    /// Features seen so far (in the order first seen).
    pub fn n_features(&self) -> usize {
        self.names.len()
    }

    /// The column of feature `name`, adding it (with zero sums) if it is new.
    fn feature(&mut self, name: &str) -> u32 {
        if self.index.len() != self.names.len() {
            // Deserialized: the index is not stored.
            self.index = self
                .names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i as u32))
                .collect();
        }
        if let Some(&j) = self.index.get(name) {
            return j;
        }
        let j = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), j);
        self.gram.push(vec![0; j as usize + 1]);
        self.sums.push(0);
        self.xty.push(Sum::default());
        j
    }

    /// Adds processed trips (with their target) to the statistics.
    ///
    /// Fails if the data have no target, were processed with another encoding, or hold a
    /// feature value that is not an integer within ±2³¹ (the message names the column and row).
    pub fn add(&mut self, data: &ProcessedTrips) -> Result<()> {
        if data.encoding() != self.encoding {
            return Err(PipelineError::InvalidParameter {
                name: "encoding",
                message: format!(
                    "statistics of `{}` data cannot take `{}` data",
                    self.encoding,
                    data.encoding()
                ),
            });
        }
        let y = data.target().ok_or(PipelineError::MissingTarget)?;
        // Per key, where each row's feature and value come from.
        enum Key<'a> {
            Numeric(u32, &'a [f64]),
            Categorical(Vec<u32>, &'a [u32]),
        }
        let mut keys: Vec<Key<'_>> = Vec::new();
        for (key, column) in data.records().columns() {
            match column {
                FeatureColumn::Numeric(values) => {
                    if let Some(row) = values
                        .iter()
                        .position(|v| v.fract() != 0.0 || v.abs() > LIMIT)
                    {
                        return Err(PipelineError::NotAnInteger {
                            column: key.clone(),
                            row,
                            value: values[row],
                        });
                    }
                    keys.push(Key::Numeric(self.feature(key), values));
                }
                FeatureColumn::Categorical { levels, codes } => {
                    let mut seen = vec![false; levels.len()];
                    for &c in codes {
                        seen[c as usize] = true;
                    }
                    let columns = levels
                        .iter()
                        .zip(&seen)
                        .map(|(l, &s)| {
                            if s {
                                self.feature(&format!("{key}{SEPARATOR}{l}"))
                            } else {
                                u32::MAX
                            }
                        })
                        .collect();
                    keys.push(Key::Categorical(columns, codes));
                }
            }
        }
        let mut row: Vec<(u32, i64)> = Vec::with_capacity(keys.len());
        for (r, &target) in y.iter().enumerate() {
            if !target.is_finite() {
                return Err(PipelineError::NonFinite {
                    field: "y".into(),
                    row: r,
                    value: target,
                });
            }
            row.clear();
            row.extend(keys.iter().map(|key| match key {
                Key::Numeric(j, values) => (*j, values[r] as i64),
                Key::Categorical(columns, codes) => (columns[codes[r] as usize], 1),
            }));
            self.n += 1;
            self.y_sum.add(target);
            self.yy_sum.add(target * target);
            for (a, &(ja, va)) in row.iter().enumerate() {
                let ja = ja as usize;
                self.sums[ja] += i128::from(va);
                self.xty[ja].add(va as f64 * target);
                for &(jb, vb) in &row[..=a] {
                    let jb = jb as usize;
                    let (hi, lo) = if ja >= jb { (ja, jb) } else { (jb, ja) };
                    // The diagonal counts once; a pair of distinct features once too.
                    self.gram[hi][lo] += i128::from(va) * i128::from(vb);
                }
            }
        }
        Ok(())
    }

    /// Adds another month's statistics: features are matched by name, new ones appended.
    pub fn merge(&mut self, other: &FeatureStatistics) -> Result<()> {
        if other.encoding != self.encoding {
            return Err(PipelineError::InvalidParameter {
                name: "encoding",
                message: format!(
                    "statistics of `{}` data cannot take `{}` data",
                    self.encoding, other.encoding
                ),
            });
        }
        let map: Vec<usize> = other
            .names
            .iter()
            .map(|n| self.feature(n) as usize)
            .collect();
        for (a, row) in other.gram.iter().enumerate() {
            for (b, &v) in row.iter().enumerate() {
                let (ja, jb) = (map[a], map[b]);
                let (hi, lo) = if ja >= jb { (ja, jb) } else { (jb, ja) };
                self.gram[hi][lo] += v;
            }
            self.sums[map[a]] += other.sums[a];
            self.xty[map[a]].merge(other.xty[a]);
        }
        self.n += other.n;
        self.y_sum.merge(other.y_sum);
        self.yy_sum.merge(other.yy_sum);
        Ok(())
    }

    /// Solves the least-squares problem: the vectorizer (sorted feature names), the model, and
    /// the RMSE on the accumulated rows.
    pub fn fit(&self) -> Result<StreamingFit> {
        if self.n == 0 {
            return Err(PipelineError::EmptyData {
                context: "cannot fit a linear regression on zero rows".into(),
            });
        }
        let p = self.names.len();
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_unstable_by(|&a, &b| self.names[a].cmp(&self.names[b]));
        let n = self.n as f64;
        let ni = i128::from(self.n);
        let raw = |a: usize, b: usize| {
            if a >= b {
                self.gram[a][b]
            } else {
                self.gram[b][a]
            }
        };
        // The centered Gram matrix, entry for entry as `LinearRegression::fit` computes it.
        let mut g = DMatrix::<f64>::zeros(p, p);
        for i in 0..p {
            for j in i..p {
                let (a, b) = (order[i], order[j]);
                let (c, sa, sb) = (raw(a, b), self.sums[a], self.sums[b]);
                let v = match ni.checked_mul(c).zip(sa.checked_mul(sb)) {
                    Some((nc, ss)) => (nc - ss) as f64 / n,
                    None => c as f64 - (sa as f64) * (sb as f64) / n,
                };
                g[(i, j)] = v;
                g[(j, i)] = v;
            }
        }
        let y_mean = self.y_sum.value() / n;
        let means: Vec<f64> = order.iter().map(|&a| self.sums[a] as f64 / n).collect();
        // b = Xcᵀ(y − ȳ) = Xᵀy − S·ȳ
        let b: Vec<f64> = order
            .iter()
            .map(|&a| {
                let mut s = self.xty[a];
                s.add(-(self.sums[a] as f64) * y_mean);
                s.value()
            })
            .collect();
        let coef = crate::model::solve_min_norm(g.clone(), &b)?;
        let intercept = y_mean - means.iter().zip(&coef).map(|(m, c)| m * c).sum::<f64>();
        let model = FittedLinearRegression::from_parts(coef, intercept).map_err(|_| {
            PipelineError::Solver(
                "the solution is not finite (the data are too badly scaled)".into(),
            )
        })?;

        // SSE = Σ(y − ȳ)² − 2βᵀb + βᵀGβ, each sum compensated.
        let beta = model.coef();
        let mut sse = Sum::default();
        sse.merge(self.yy_sum);
        let y_total = self.y_sum.value();
        sse.add(-(y_total * y_mean));
        for i in 0..p {
            sse.add(-2.0 * beta[i] * b[i]);
            for j in 0..p {
                sse.add(beta[i] * g[(i, j)] * beta[j]);
            }
        }
        let rmse_train = (sse.value().max(0.0) / n).sqrt();
        let names: Vec<String> = order.iter().map(|&a| self.names[a].clone()).collect();
        Ok(StreamingFit {
            vectorizer: FittedDictVectorizer::from_sorted_names(names),
            model,
            n_train: self.n as usize,
            rmse_train,
        })
    }
}
