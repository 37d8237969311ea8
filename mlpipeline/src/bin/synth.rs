//! Writes a synthetic month of TLC trip records.
//!
//! ```text
//! cargo run -p mlpipeline --release --bin synth -- --rows 1369769 --month 2021-01 --out data/
//! ```

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use mlpipeline::data::TaxiColor;
use mlpipeline::synth::{write_month, OutputFormat, SynthConfig};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Parquet,
    Csv,
    Both,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Color {
    Yellow,
    Green,
}

/// Generate a month of synthetic NYC taxi trips with the TLC's schema.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Number of trips (the real yellow 2021-01 has 1,369,769).
    #[arg(long, default_value_t = 1_369_769)]
    rows: usize,
    /// The month, YYYY-MM.
    #[arg(long, default_value = "2021-01")]
    month: String,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// File format(s) to write.
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    format: Format,
    /// Yellow or green taxi schema.
    #[arg(long, value_enum, default_value_t = Color::Yellow)]
    color: Color,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn parse_month(s: &str) -> Option<(i32, u32)> {
    let (y, m) = s.split_once('-')?;
    Some((y.parse().ok()?, m.parse().ok()?))
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let Some((year, month)) = parse_month(&args.month) else {
        eprintln!(
            "error: --month must look like 2021-01, got {:?}",
            args.month
        );
        return std::process::ExitCode::FAILURE;
    };
    let config = SynthConfig {
        rows: args.rows,
        year,
        month,
        color: match args.color {
            Color::Yellow => TaxiColor::Yellow,
            Color::Green => TaxiColor::Green,
        },
        seed: args.seed,
    };
    let format = match args.format {
        Format::Parquet => OutputFormat::Parquet,
        Format::Csv => OutputFormat::Csv,
        Format::Both => OutputFormat::Both,
    };
    let start = Instant::now();
    match write_month(&config, &args.out, format) {
        Ok(paths) => {
            for p in paths {
                let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                println!(
                    "{} ({} rows, {:.1} MB)",
                    p.display(),
                    config.rows,
                    size as f64 / 1e6
                );
            }
            println!("in {:.2} s", start.elapsed().as_secs_f64());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
