//! The `download` flow: fetch TLC months before training on them.

use std::path::PathBuf;

use flowcore::prelude::*;

use super::tasks::download_month;
use crate::data::TaxiColor;

/// Downloads the given months (concurrently) into `data_dir` and returns their paths, in order. A
/// month not in the form `YYYY-MM` fails the run before anything is fetched.
#[flow(name = "download")]
pub async fn download_flow(
    months: Vec<String>,
    color: TaxiColor,
    data_dir: PathBuf,
    base_url: String,
) -> Result<Vec<PathBuf>, FlowError> {
    for (i, month) in months.iter().enumerate() {
        crate::download::check_month(month)?;
        if months[..i].contains(month) {
            return Err(crate::PipelineError::InvalidParameter {
                name: "months",
                message: format!("{month} is listed twice"),
            }
            .into());
        }
    }
    let downloads: Vec<_> = months
        .into_iter()
        .map(|m| download_month(base_url.clone(), color, m, data_dir.clone()).submit())
        .collect();
    let mut paths = Vec::with_capacity(downloads.len());
    for d in downloads {
        paths.push(d.await?);
    }
    Ok(paths)
}
