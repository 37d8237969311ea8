//! The course's flows, built from this crate's functions as flowcore tasks.
//!
//! * [`processing`]: load → compute the target → filter outliers → encode, with the "with target /
//!   without target" switch; a subflow of the two below.
//! * [`train_flow`]: process the training and test months (concurrently under the Concurrent runner)
//!   → `extract_x_y` → train → evaluate (RMSE train and test) → save the model + vectorizer.
//! * [`download_flow`]: fetch TLC months (retried tasks, skipping files already present).
//! * [`predict_flow`]: load the model + vectorizer → process without target → predict → write the
//!   predictions.
//! * [`train_stream_flow`] and [`predict_stream_flow`]: the same on months of any size, in bounded
//!   memory (a chunk of rows at a time; training on many months as on their concatenation).
//!
//! Parameters are serde structs, checked first thing in the flow: a bad parameter fails the flow run
//! with a message that names the field.

mod download;
mod params;
mod predict;
mod processing_flow;
mod streaming;
pub mod streaming_tasks;
pub mod tasks;
mod train;

pub use download::download_flow;
pub use params::{PredictParameters, StreamTrainParameters, TrainParameters};
pub use predict::{predict_flow, PredictReport};
pub use processing_flow::processing;
pub use streaming::{predict_stream_flow, train_stream_flow};
pub use tasks::Dataset;
pub use train::{train_flow, TrainReport};
