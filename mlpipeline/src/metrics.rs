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
    if y_true.len() != y_pred.len() {
        return Err(PipelineError::ShapeMismatch {
            context: "rmse: predictions for targets".into(),
            expected: y_true.len(),
            actual: y_pred.len(),
        });
    }
    if y_true.is_empty() {
        return Err(PipelineError::EmptyData {
            context: "rmse of zero rows".into(),
        });
    }
    let mut sum = 0.0f64;
    let mut comp = 0.0f64;
    for (row, (&a, &b)) in y_true.iter().zip(y_pred).enumerate() {
        let d = a - b;
        if !d.is_finite() {
            let (field, value) = if a.is_finite() {
                ("prediction", b)
            } else {
                ("target", a)
            };
            return Err(PipelineError::NonFinite {
                field: field.into(),
                row,
                value,
            });
        }
        neumaier_add(&mut sum, &mut comp, d * d);
    }
    Ok(((sum + comp) / y_true.len() as f64).sqrt())
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
