//! Evaluation metrics.

use crate::error::{PipelineError, Result};

/// Root mean squared error, `sqrt(mean((y - ŷ)²))` (scikit-learn's `root_mean_squared_error`).
///
/// ```
/// let e = mlpipeline::metrics::rmse(&[1.0, 2.0], &[1.0, 4.0])?;
/// assert!((e - 2f64.sqrt()).abs() < 1e-15);
/// # Ok::<(), mlpipeline::PipelineError>(())
/// ```
pub fn rmse(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_rows(y_true.len(), y_pred.len())?;
    let mut errors = SquaredErrors::default();
    for (row, (&a, &b)) in y_true.iter().zip(y_pred).enumerate() {
        errors.add(row, a, b)?;
    }
    Ok(errors.rmse(y_true.len()))
}

/// Fails unless there are as many predictions as targets, and some.
pub(crate) fn check_rows(targets: usize, predictions: usize) -> Result<()> {
    if targets != predictions {
        return Err(PipelineError::ShapeMismatch {
            context: "rmse: predictions for targets".into(),
            expected: targets,
            actual: predictions,
        });
    }
    if targets == 0 {
        return Err(PipelineError::EmptyData {
            context: "rmse of zero rows".into(),
        });
    }
    Ok(())
}

/// The compensated sum of squared errors behind [`rmse`], a row at a time.
#[derive(Debug, Default)]
pub(crate) struct SquaredErrors {
    sum: f64,
    comp: f64,
}

impl SquaredErrors {
    /// Adds `(target − prediction)²` of `row`; fails naming a non-finite target or prediction.
    pub(crate) fn add(&mut self, row: usize, target: f64, prediction: f64) -> Result<()> {
        let d = target - prediction;
        if !d.is_finite() {
            let (field, value) = if target.is_finite() {
                ("prediction", prediction)
            } else {
                ("target", target)
            };
            return Err(PipelineError::NonFinite {
                field: field.into(),
                row,
                value,
            });
        }
        neumaier_add(&mut self.sum, &mut self.comp, d * d);
        Ok(())
    }

    /// The root of the mean over `n` rows.
    pub(crate) fn rmse(&self, n: usize) -> f64 {
        ((self.sum + self.comp) / n as f64).sqrt()
    }
}

/// Compensated (Neumaier) summation step: adds `x` to `sum` keeping the lost low bits in `comp`.
#[inline]
pub(crate) fn neumaier_add(sum: &mut f64, comp: &mut f64, x: f64) {
    let t = *sum + x;
    if sum.abs() >= x.abs() {
        *comp += (*sum - t) + x;
    } else {
        *comp += (x - t) + *sum;
    }
    *sum = t;
}
