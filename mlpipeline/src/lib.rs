//! The NYC taxi trip-duration pipeline of the MLOps course, as a Rust library.
//!
//! Each step of the course's notebook is a function here, with the same semantics as the pandas +
//! scikit-learn original (see the parity tests):
//!
//! ```no_run
//! use mlpipeline::data::load_data;
//! use mlpipeline::metrics::rmse;
//! use mlpipeline::model::LinearRegression;
//! use mlpipeline::processing::{extract_x_y, process, Encoding, ProcessOptions};
//!
//! let options = ProcessOptions::with_encoding(Encoding::OneHot);
//! let train = process(load_data("yellow_tripdata_2021-01.parquet")?, true, &options)?;
//! let test = process(load_data("yellow_tripdata_2021-02.parquet")?, true, &options)?;
//! let (x_train, y_train, dv) = extract_x_y(&train, None)?;
//! let (x_test, y_test, _) = extract_x_y(&test, Some(&dv))?;
//! let model = LinearRegression::new().fit(&x_train, y_train.as_deref().unwrap_or_default())?;
//! let rmse_test = rmse(y_test.as_deref().unwrap_or_default(), &model.predict(&x_test)?)?;
//! println!("{} features, test RMSE {rmse_test:.3}", dv.n_features());
//! # Ok::<(), mlpipeline::PipelineError>(())
//! ```
#![warn(missing_docs)]

pub mod artifacts;
mod civil;
pub mod data;
pub mod download;
pub mod error;
pub mod features;
pub mod flows;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod months;
pub mod predictions;
pub mod processing;
mod rng;
pub mod sparse;
pub mod stats;
pub mod streaming;
pub mod synth;
mod typed_array;

pub use error::{PipelineError, Result};

#[cfg(test)]
mod tests {
    /// The types a workflow passes between tasks can be cloned, sent and shared.
    fn shareable<T: Clone + Send + Sync + std::fmt::Debug + 'static>() {}

    #[test]
    fn main_types_are_clone_send_sync_debug() {
        shareable::<crate::data::Trips>();
        shareable::<crate::processing::ProcessedTrips>();
        shareable::<crate::processing::ProcessOptions>();
        shareable::<crate::features::Records>();
        shareable::<crate::features::FittedDictVectorizer>();
        shareable::<crate::sparse::CsrMatrix>();
        shareable::<crate::model::LinearRegression>();
        shareable::<crate::model::FittedLinearRegression>();
        shareable::<crate::artifacts::ModelArtifact>();
        shareable::<crate::synth::SynthConfig>();
        shareable::<crate::stats::FeatureStatistics>();
        fn send_sync_error<T: Send + Sync + std::error::Error + 'static>() {}
        send_sync_error::<crate::PipelineError>();
    }
}
