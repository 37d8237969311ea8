//! Ordinary least squares with an intercept: scikit-learn's `LinearRegression`.
//!
//! The fit centers `X` and `y` and finds the minimum-norm least-squares solution of the centered
//! problem, then `intercept = ȳ − x̄·coef`, as scikit-learn does. It works from the sparse matrix:
//! it accumulates the centered Gram matrix `XcᵀXc` (exactly, in integers, when every value of `X`
//! is an integer, as with both encodings) and `Xcᵀyc` (compensated sums), then solves with a
//! symmetric eigendecomposition that drops the null space, so the rank deficiency of one-hot
//! columns plus an intercept gives the minimum-norm solution. Iterative refinement polishes it.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::metrics::neumaier_add;
use crate::sparse::CsrMatrix;

/// Linear regression before fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearRegression {
    fit_intercept: bool,
}

impl Default for LinearRegression {
    fn default() -> Self {
        Self::new()
    }
}

impl LinearRegression {
    /// Ordinary least squares with an intercept (scikit-learn's defaults).
    pub fn new() -> Self {
        LinearRegression {
            fit_intercept: true,
        }
    }

    /// Whether to fit an intercept (default `true`); without one the data are not centered.
    pub fn fit_intercept(mut self, yes: bool) -> Self {
        self.fit_intercept = yes;
        self
    }

    /// Fits the model to `x` (rows × features) and `y`.
    ///
    /// Fails on empty data, mismatched lengths, or any `NaN`/infinite value in `x` or `y`.
    ///
    /// ```
    /// use mlpipeline::model::LinearRegression;
    /// use mlpipeline::sparse::CsrMatrix;
    /// // y = 2x + 1
    /// let x = CsrMatrix::from_parts(3, 1, vec![0, 1, 2, 3], vec![0, 0, 0], vec![1.0, 2.0, 3.0])?;
    /// let m = LinearRegression::new().fit(&x, &[3.0, 5.0, 7.0])?;
    /// assert!((m.coef()[0] - 2.0).abs() < 1e-12 && (m.intercept() - 1.0).abs() < 1e-12);
    /// # Ok::<(), mlpipeline::PipelineError>(())
    /// ```
    pub fn fit(&self, x: &CsrMatrix, y: &[f64]) -> Result<FittedLinearRegression> {
        let n = x.nrows();
        let p = x.ncols();
        if y.len() != n {
            return Err(PipelineError::ShapeMismatch {
                context: "LinearRegression::fit: targets for the rows of X".into(),
                expected: n,
                actual: y.len(),
            });
        }
        if n == 0 {
            return Err(PipelineError::EmptyData {
                context: "cannot fit a linear regression on zero rows".into(),
            });
        }
        check_finite("y", y)?;
        for (row, (idx, val)) in x.rows().enumerate() {
            if let Some((j, &v)) = idx.iter().zip(val).find(|(_, v)| !v.is_finite()) {
                return Err(PipelineError::NonFinite {
                    field: format!("X column {j}"),
                    row,
                    value: v,
                });
            }
        }

        let nf = n as f64;
        let y_mean = if self.fit_intercept {
            compensated_sum(y.iter().copied()) / nf
        } else {
            0.0
        };
        let (gram, x_mean) = centered_gram(x, self.fit_intercept);
        // b = Xcᵀ(y − ȳ) = Xᵀ(y − ȳ) − x̄ Σ(y − ȳ)
        let mut b = vec![0.0; p];
        let mut bc = vec![0.0; p];
        for ((idx, val), &yi) in x.rows().zip(y) {
            let r = yi - y_mean;
            for (&j, &v) in idx.iter().zip(val) {
                neumaier_add(&mut b[j as usize], &mut bc[j as usize], v * r);
            }
        }
        let r_sum = compensated_sum(y.iter().map(|&v| v - y_mean));
        let b: Vec<f64> = (0..p)
            .map(|j| (b[j] + bc[j]) - x_mean[j] * r_sum)
            .collect();

        let coef = solve_min_norm(gram, &b)?;
        let intercept = if self.fit_intercept {
            y_mean - x_mean.iter().zip(&coef).map(|(m, c)| m * c).sum::<f64>()
        } else {
            0.0
        };
        if !intercept.is_finite() || coef.iter().any(|c| !c.is_finite()) {
            return Err(PipelineError::Solver(
                "the solution is not finite (the data are too badly scaled)".into(),
            ));
        }
        Ok(FittedLinearRegression { coef, intercept })
    }
}

fn check_finite(field: &str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(row) => Err(PipelineError::NonFinite {
            field: field.to_string(),
            row,
            value: v[row],
        }),
        None => Ok(()),
    }
}

fn compensated_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for v in values {
        neumaier_add(&mut s, &mut c, v);
    }
    s + c
}

/// The centered Gram matrix `XcᵀXc` (or `XᵀX` without intercept) and the column means.
fn centered_gram(x: &CsrMatrix, center: bool) -> (DMatrix<f64>, Vec<f64>) {
    let n = x.nrows();
    let p = x.ncols();
    const LIMIT: f64 = (1u64 << 31) as f64;
    let integral = x.data().iter().all(|v| v.fract() == 0.0 && v.abs() <= LIMIT);
    if integral {
        // Exact: sums of products of integers below 2^31 fit in i128.
        let mut c = vec![0i128; p * p];
        let mut s = vec![0i128; p];
        for (idx, val) in x.rows() {
            for (a, (&ja, &va)) in idx.iter().zip(val).enumerate() {
                let va = va as i64 as i128;
                s[ja as usize] += va;
                let base = ja as usize * p;
                for (&jb, &vb) in idx[a..].iter().zip(&val[a..]) {
                    c[base + jb as usize] += va * (vb as i64 as i128);
                }
            }
        }
        let ni = n as i128;
        let mut g = DMatrix::<f64>::zeros(p, p);
        for i in 0..p {
            for j in i..p {
                let raw = c[i * p + j];
                let v = if center {
                    // (n·C − S_i·S_j) / n, exact up to the last two roundings.
                    (ni * raw - s[i] * s[j]) as f64 / n as f64
                } else {
                    raw as f64
                };
                g[(i, j)] = v;
                g[(j, i)] = v;
            }
        }
        let means = s
            .iter()
            .map(|&v| if center { v as f64 / n as f64 } else { 0.0 })
            .collect();
        return (g, means);
    }
    // General case: means first, then centered products.
    let mut means = vec![0.0; p];
    if center {
        let mut comp = vec![0.0; p];
        for (idx, val) in x.rows() {
            for (&j, &v) in idx.iter().zip(val) {
                neumaier_add(&mut means[j as usize], &mut comp[j as usize], v);
            }
        }
        for j in 0..p {
            means[j] = (means[j] + comp[j]) / n as f64;
        }
    }
    let mut g = DMatrix::<f64>::zeros(p, p);
    if center && p <= 32 {
        // Few columns: accumulate the exactly centered dense rows.
        let mut row = vec![0.0; p];
        for (idx, val) in x.rows() {
            for (r, m) in row.iter_mut().zip(&means) {
                *r = -m;
            }
            for (&j, &v) in idx.iter().zip(val) {
                row[j as usize] += v;
            }
            for a in 0..p {
                for b in a..p {
                    g[(a, b)] += row[a] * row[b];
                }
            }
        }
    } else {
        for (idx, val) in x.rows() {
            for (a, (&ja, &va)) in idx.iter().zip(val).enumerate() {
                for (&jb, &vb) in idx[a..].iter().zip(&val[a..]) {
                    g[(ja as usize, jb as usize)] += va * vb;
                }
            }
        }
        if center {
            for a in 0..p {
                for b in a..p {
                    g[(a, b)] -= n as f64 * means[a] * means[b];
                }
            }
        }
    }
    for a in 0..p {
        for b in 0..a {
            g[(a, b)] = g[(b, a)];
        }
    }
    (g, means)
}

/// Minimum-norm solution of `G β = b` for a symmetric positive semi-definite `G`.
fn solve_min_norm(g: DMatrix<f64>, b: &[f64]) -> Result<Vec<f64>> {
    let p = b.len();
    if p == 0 {
        return Ok(Vec::new());
    }
    let eig = SymmetricEigen::try_new(g.clone(), f64::EPSILON, 10_000).ok_or_else(|| {
        PipelineError::Solver("the eigendecomposition of XᵀX did not converge".into())
    })?;
    let lambda_max = eig.eigenvalues.iter().fold(0.0f64, |m, &l| m.max(l.abs()));
    if lambda_max == 0.0 {
        // Every column is constant: the best centered fit is zero.
        return Ok(vec![0.0; p]);
    }
    let tol = lambda_max * p as f64 * f64::EPSILON * 16.0;
    let v = &eig.eigenvectors;
    let pinv = |rhs: &DVector<f64>| -> DVector<f64> {
        let proj = v.transpose() * rhs;
        let scaled = DVector::from_iterator(
            p,
            proj.iter()
                .zip(eig.eigenvalues.iter())
                .map(|(&c, &l)| if l > tol { c / l } else { 0.0 }),
        );
        v * scaled
    };
    let bv = DVector::from_column_slice(b);
    let mut beta = pinv(&bv);
    // Iterative refinement.
    for _ in 0..3 {
        let r = &bv - &g * &beta;
        beta += pinv(&r);
    }
    Ok(beta.iter().copied().collect())
}

/// A fitted linear regression: `ŷ = X·coef + intercept`.
///
/// It knows how many features it was fitted on and refuses any other number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedLinearRegression {
    coef: Vec<f64>,
    intercept: f64,
}

impl FittedLinearRegression {
    /// A model from known coefficients (e.g. to compare with another implementation).
    pub fn from_parts(coef: Vec<f64>, intercept: f64) -> Result<Self> {
        check_finite("coef", &coef)?;
        check_finite("intercept", &[intercept])?;
        Ok(FittedLinearRegression { coef, intercept })
    }
    /// The coefficients, one per feature.
    pub fn coef(&self) -> &[f64] {
        &self.coef
    }
    /// The intercept.
    pub fn intercept(&self) -> f64 {
        self.intercept
    }
    /// Number of features the model expects.
    pub fn n_features(&self) -> usize {
        self.coef.len()
    }

    /// Predicts every row of `x`.
    ///
    /// Fails with [`PipelineError::FeatureMismatch`] if `x` does not have
    /// [`n_features`](Self::n_features) columns, and on non-finite values.
    pub fn predict(&self, x: &CsrMatrix) -> Result<Vec<f64>> {
        if x.ncols() != self.coef.len() {
            return Err(PipelineError::FeatureMismatch {
                vectorizer_features: x.ncols(),
                model_features: self.coef.len(),
            });
        }
        x.rows()
            .enumerate()
            .map(|(row, (idx, val))| {
                let mut s = 0.0;
                for (&j, &v) in idx.iter().zip(val) {
                    if !v.is_finite() {
                        return Err(PipelineError::NonFinite {
                            field: format!("X column {j}"),
                            row,
                            value: v,
                        });
                    }
                    s += v * self.coef[j as usize];
                }
                Ok(s + self.intercept)
            })
            .collect()
    }
}
