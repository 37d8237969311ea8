//! The batch prediction flow.

use std::path::PathBuf;

use flowcore::prelude::*;
use serde::{Deserialize, Serialize};

use super::params::PredictParameters;
use super::processing_flow::processing;
use super::tasks::{load_model, predict, write_predictions};
use crate::processing::ProcessOptions;

/// What a prediction run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictReport {
    /// Rows predicted (every row of the input: nothing is filtered).
    pub n_predictions: usize,
    /// Mean predicted duration, minutes.
    pub mean_prediction: f64,
    /// The predictions file.
    pub out: PathBuf,
}

/// Predicts trip durations for a month with a saved model: load the model + vectorizer → process
/// without target → predict → write the three inputs and `predicted_duration`.
#[flow(name = "Batch prediction", version = "1.0", tags = ["ml"])]
pub async fn predict_flow(params: PredictParameters) -> Result<PredictReport, FlowError> {
    params.validate()?;
    let artifact = load_model(params.model_path.clone()).await?;
    let options = ProcessOptions::with_encoding(artifact.encoding());
    let data = processing
        .call(params.data_path.clone(), false, options)
        .await?;
    let predicted = predict(artifact, data).submit();
    let (n_predictions, mean_prediction, min, max) = {
        let shared = predicted.result_shared().await?;
        let p = &shared.1;
        let min = p.iter().copied().fold(f64::INFINITY, f64::min);
        let max = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (
            p.len(),
            p.iter().sum::<f64>() / p.len().max(1) as f64,
            min,
            max,
        )
    };
    #[derive(Serialize)]
    struct Summary {
        count: usize,
        mean: f64,
        min: Option<f64>,
        max: Option<f64>,
    }
    let finite = |v: f64| v.is_finite().then_some(v);
    flowcore::artifacts::create_table(
        "prediction-summary",
        &[Summary {
            count: n_predictions,
            mean: mean_prediction,
            min: finite(min),
            max: finite(max),
        }],
    )?;
    let out = write_predictions(predicted, params.out_path.clone()).await?;
    Ok(PredictReport {
        n_predictions,
        mean_prediction,
        out,
    })
}
