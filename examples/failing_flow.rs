//! The course's failure story: predicting with a vectorizer that does not match the model.
//!
//! The course re-fitted a `DictVectorizer` on new data and fed its 527 features to a model trained
//! on 528 ("X has 527 features, but LinearRegression is expecting 528"). Here the mismatch cannot be
//! saved into an artifact, and predicting with a foreign vectorizer fails the task that tries it: the
//! flow run ends `Failed`, its message says what mismatched, and the task run graph shows which task
//! failed and what fed it.
//!
//! ```text
//! cargo run --example failing_flow     # exits 1, by design
//! ```

mod common;

use std::path::PathBuf;

use flowcore::prelude::*;
use mlpipeline::features::{DictVectorizer, FittedDictVectorizer};
use mlpipeline::flows::processing;
use mlpipeline::flows::tasks::{extract_x_y, train};
use mlpipeline::model::FittedLinearRegression;
use mlpipeline::processing::{Encoding, ProcessOptions, ProcessedTrips};

/// The course's mistake: fit a new vectorizer on the data to predict.
#[task]
fn refit_vectorizer(data: ProcessedTrips) -> FittedDictVectorizer {
    DictVectorizer::new().fit(data.records())
}

/// Predicts with whatever vectorizer it is given.
#[task]
fn predict_with(
    model: FittedLinearRegression,
    vectorizer: FittedDictVectorizer,
    data: ProcessedTrips,
) -> Result<Vec<f64>, mlpipeline::PipelineError> {
    let x = vectorizer.transform(data.records())?;
    model.predict(&x)
}

#[flow(name = "Mismatched prediction")]
async fn mismatched(train_path: PathBuf, predict_path: PathBuf) -> Result<usize, FlowError> {
    let options = ProcessOptions::with_encoding(Encoding::OneHot);
    let train_data = processing.call(train_path, true, options).await?;
    let new_data = processing.call(predict_path, false, options).await?;
    let train_set = extract_x_y(train_data).submit();
    let model = train(&train_set).submit();
    let new_data = refit_input(new_data).submit();
    let vectorizer = refit_vectorizer(&new_data).submit();
    let predictions = predict_with(model, vectorizer, new_data).await?;
    Ok(predictions.len())
}

/// Hands the prediction data to the graph as a task result.
#[task]
fn refit_input(data: ProcessedTrips) -> ProcessedTrips {
    data
}

#[tokio::main]
async fn main() {
    // A smaller training month than prediction month makes the vocabularies differ, as in the course.
    let state = mismatched
        .run(
            common::sample("2021-02", "parquet"),
            common::sample("2021-03", "parquet"),
        )
        .await;
    common::print_record(&state);
    if let Some(failed) = state.failed_task_runs().next() {
        println!("\nthe task run that failed: '{}'", failed.name);
        println!("why: {}", failed.state().message.as_deref().unwrap_or("?"));
    }
    std::process::exit(if state.is_completed() { 0 } else { 1 });
}
