//! Naming the data to train on: a month (`2021-01`), an inclusive range (`2021-01..2021-06`), a
//! comma-separated list of those, file paths, or file globs (`data/yellow_*_2021-0[1-6].parquet`).
//!
//! ```
//! use mlpipeline::months::{parse_data_spec, DataItem};
//! let items = parse_data_spec("train", "2021-11..2022-01,2022-03")?;
//! assert_eq!(items, ["2021-11", "2021-12", "2022-01", "2022-03"].map(|m| DataItem::Month(m.into())));
//! # Ok::<(), mlpipeline::PipelineError>(())
//! ```

use std::path::{Path, PathBuf};

use crate::data::TaxiColor;
use crate::download::{check_month, file_name, next_month};
use crate::error::{PipelineError, Result};

/// Longest month range accepted (a century).
const MAX_RANGE: usize = 1200;

/// One item of a data specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataItem {
    /// A TLC month, `YYYY-MM`: a file in the data directory.
    Month(String),
    /// A file named directly (or found by a glob).
    Path(PathBuf),
}

fn invalid(name: &'static str, message: String) -> PipelineError {
    PipelineError::InvalidParameter { name, message }
}

fn is_month(s: &str) -> bool {
    check_month(s).is_ok()
}

/// Parses `spec` (the value of parameter `name`, named in errors): items separated by commas, each
/// a month, a month range `A..B` (both ends included), a glob pattern (expanded, sorted; no match is
/// an error) or a path.
pub fn parse_data_spec(name: &'static str, spec: &str) -> Result<Vec<DataItem>> {
    let mut items = Vec::new();
    for part in spec.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(invalid(name, format!("{spec:?} has an empty item")));
        }
        if let Some((from, to)) = part.split_once("..") {
            let (from, to) = (from.trim(), to.trim());
            for end in [from, to] {
                if !is_month(end) {
                    return Err(invalid(
                        name,
                        format!("{end:?} in the range {part:?} is not a month in the form YYYY-MM"),
                    ));
                }
            }
            if from > to {
                return Err(invalid(
                    name,
                    format!("the range {part:?} ends before it starts"),
                ));
            }
            let mut month = from.to_string();
            loop {
                items.push(DataItem::Month(month.clone()));
                if month.as_str() == to {
                    break;
                }
                if items.len() > MAX_RANGE {
                    return Err(invalid(
                        name,
                        format!("the range {part:?} is longer than {MAX_RANGE} months"),
                    ));
                }
                month = next_month(&month)?;
            }
        } else if is_month(part) {
            items.push(DataItem::Month(part.to_string()));
        } else if part.contains(['*', '?', '[']) {
            let paths = glob::glob(part)
                .map_err(|e| invalid(name, format!("bad file pattern {part:?}: {e}")))?;
            let mut found: Vec<PathBuf> = paths
                .filter_map(|p| p.ok())
                .filter(|p| p.is_file())
                .collect();
            if found.is_empty() {
                return Err(invalid(name, format!("no file matches {part:?}")));
            }
            found.sort();
            items.extend(found.into_iter().map(DataItem::Path));
        } else {
            items.push(DataItem::Path(PathBuf::from(part)));
        }
    }
    Ok(items)
}

/// The months among `items` (what a download would fetch).
pub fn months(items: &[DataItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            DataItem::Month(m) => Some(m.clone()),
            DataItem::Path(_) => None,
        })
        .collect()
}

/// The file of each item: a month is `{data_dir}/{color}_tripdata_{month}.parquet` (or `.csv`), a
/// path is itself (not checked here). A month without a file fails naming it and the file looked
/// for.
pub fn resolve(
    name: &'static str,
    items: &[DataItem],
    data_dir: &Path,
    color: TaxiColor,
) -> Result<Vec<PathBuf>> {
    items
        .iter()
        .map(|item| match item {
            DataItem::Month(month) => {
                let parquet = data_dir.join(file_name(color, month));
                let csv = parquet.with_extension("csv");
                if parquet.is_file() {
                    Ok(parquet)
                } else if csv.is_file() {
                    Ok(csv)
                } else {
                    Err(invalid(
                        name,
                        format!(
                            "month {month} is missing: {} does not exist (download it, or point \
                             the data directory at it)",
                            parquet.display()
                        ),
                    ))
                }
            }
            // Checked where it is used: a flow's parameter validation names its field.
            DataItem::Path(path) => Ok(path.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_lists_and_paths_parse() {
        let items = parse_data_spec("train", "2021-12..2022-02, jan.parquet").unwrap();
        assert_eq!(
            items,
            vec![
                DataItem::Month("2021-12".into()),
                DataItem::Month("2022-01".into()),
                DataItem::Month("2022-02".into()),
                DataItem::Path("jan.parquet".into()),
            ]
        );
        assert_eq!(months(&items), ["2021-12", "2022-01", "2022-02"]);
    }

    #[test]
    fn bad_specs_name_what_is_wrong() {
        let msg = |s: &str| parse_data_spec("train", s).unwrap_err().to_string();
        assert!(msg("2021-06..2021-01").contains("ends before it starts"));
        assert!(msg("2021-13..2022-01").contains("\"2021-13\""));
        assert!(msg("2021-01,,2021-02").contains("empty item"));
        assert!(msg("/nonexistent/dir/*.parquet").contains("no file matches"));
    }

    #[test]
    fn a_missing_month_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("yellow_tripdata_2021-01.parquet"), b"x").unwrap();
        std::fs::write(dir.path().join("yellow_tripdata_2021-02.csv"), b"x").unwrap();
        let items = parse_data_spec("train", "2021-01..2021-03").unwrap();
        let err = resolve("train", &items, dir.path(), TaxiColor::Yellow)
            .unwrap_err()
            .to_string();
        assert!(err.contains("month 2021-03 is missing"), "{err}");
        assert!(err.contains("yellow_tripdata_2021-03.parquet"), "{err}");
        assert!(err.contains("`train`"), "{err}");
        let items = parse_data_spec("train", "2021-01..2021-02").unwrap();
        let files = resolve("train", &items, dir.path(), TaxiColor::Yellow).unwrap();
        assert!(files[1].ends_with("yellow_tripdata_2021-02.csv"));
        let glob = format!("{}/*.parquet", dir.path().display());
        assert_eq!(parse_data_spec("train", &glob).unwrap().len(), 1);
    }
}
