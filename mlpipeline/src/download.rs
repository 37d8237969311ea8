//! Fetching TLC trip-record months from the public URL pattern
//! `{base}/{color}_tripdata_{YYYY-MM}.parquet`.
//!
//! A download streams to a temporary file beside the destination, is checked to be a readable parquet
//! file, and only then renamed into place: a failed or partial download never leaves a file that
//! looks complete. A destination that already holds a readable parquet file is not fetched again.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::data::TaxiColor;
use crate::error::{PipelineError, Result};

/// Where the TLC publishes its trip records.
pub const TLC_BASE_URL: &str = "https://d37ci6vzurychx.cloudfront.net/trip-data";

/// The base URL to use: `MLPIPELINE_TLC_BASE_URL` when set (a mirror, or a test server), else
/// [`TLC_BASE_URL`].
pub fn base_url() -> String {
    std::env::var("MLPIPELINE_TLC_BASE_URL").unwrap_or_else(|_| TLC_BASE_URL.to_string())
}

/// Checks a `YYYY-MM` month.
pub fn check_month(month: &str) -> Result<()> {
    let bad = || PipelineError::InvalidParameter {
        name: "month",
        message: format!("{month:?} is not a month in the form YYYY-MM"),
    };
    let (year, mm) = month.split_once('-').ok_or_else(bad)?;
    let ok = year.len() == 4
        && year.chars().all(|c| c.is_ascii_digit())
        && mm.len() == 2
        && matches!(mm.parse::<u32>(), Ok(1..=12));
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The month after `month` (`2021-12` → `2022-01`).
pub fn next_month(month: &str) -> Result<String> {
    check_month(month)?;
    let (year, mm) = month.split_once('-').expect("checked");
    let (year, mm): (u32, u32) = (year.parse().expect("checked"), mm.parse().expect("checked"));
    Ok(if mm == 12 {
        format!("{:04}-01", year + 1)
    } else {
        format!("{year:04}-{:02}", mm + 1)
    })
}

/// The file name of a month: `yellow_tripdata_2021-01.parquet`.
pub fn file_name(color: TaxiColor, month: &str) -> String {
    format!("{}_tripdata_{month}.parquet", color.as_str())
}

/// The URL of a month under `base`.
pub fn url(base: &str, color: TaxiColor, month: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), file_name(color, month))
}

/// Whether `path` is a readable parquet file (its footer and metadata parse).
pub fn is_readable_parquet(path: &Path) -> bool {
    std::fs::File::open(path)
        .ok()
        .and_then(|f| parquet::file::reader::SerializedFileReader::new(f).ok())
        .is_some()
}

/// Downloads `url` to `dest` unless `dest` already is a readable parquet file. Returns whether it
/// downloaded. Shows a progress bar when stderr is a terminal. A connection that cannot be made in
/// 30 s, or that stalls for 60 s, fails the attempt (so a retry can start).
pub async fn download(url: &str, dest: &Path) -> Result<bool> {
    if is_readable_parquet(dest) {
        tracing::info!(
            "{} is already here; not downloading it again",
            dest.display()
        );
        return Ok(false);
    }
    let err = |message: String| PipelineError::Download {
        url: url.to_string(),
        message,
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PipelineError::Io { path, source }
    };
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    }
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .read_timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| err(chain(&e)))?;
    let response = client.get(url).send().await.map_err(|e| err(chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(err(format!("the server answered {status}")));
    }
    let total = response.content_length();
    let bar = progress_bar(total, dest);
    let tmp = temp_path(dest);
    let written: Result<()> = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io(&tmp))?;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| err(format!("the transfer broke off: {}", chain(&e))))?;
            file.write_all(&chunk).await.map_err(io(&tmp))?;
            bar.inc(chunk.len() as u64);
        }
        file.flush().await.map_err(io(&tmp))?;
        file.sync_all().await.map_err(io(&tmp))?;
        Ok(())
    }
    .await;
    bar.finish_and_clear();
    let checked = written.and_then(|()| {
        if is_readable_parquet(&tmp) {
            Ok(())
        } else {
            Err(err(
                "the downloaded file is not a readable parquet file".into()
            ))
        }
    });
    if let Err(e) = checked {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    tokio::fs::rename(&tmp, dest).await.map_err(io(dest))?;
    tracing::info!("downloaded {url} to {}", dest.display());
    Ok(true)
}

/// An error with its causes: `error sending request: connection refused`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    dest.with_file_name(format!(".{name}.part-{}", std::process::id()))
}

fn progress_bar(total: Option<u64>, dest: &Path) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    match total {
        Some(total) if std::io::stderr().is_terminal() => {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(format!("downloading {}", dest.display()));
            bar
        }
        _ => indicatif::ProgressBar::hidden(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_urls() {
        assert_eq!(next_month("2021-01").unwrap(), "2021-02");
        assert_eq!(next_month("2021-12").unwrap(), "2022-01");
        assert!(check_month("2021-13").is_err());
        assert!(check_month("21-01").is_err());
        assert!(next_month("January")
            .unwrap_err()
            .to_string()
            .contains("`month`"));
        assert_eq!(
            url("http://x/trip-data/", TaxiColor::Green, "2021-03"),
            "http://x/trip-data/green_tripdata_2021-03.parquet"
        );
    }
}
