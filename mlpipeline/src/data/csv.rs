//! Reading trip records from CSV: a header row, then one trip per line.

use std::path::Path;

use super::{locate_columns, progress_bar, Trips, NAT};
use crate::civil::days_from_civil;
use crate::error::{PipelineError, Result};

pub(super) fn load(path: &Path) -> Result<Trips> {
    let mut chunks = CsvChunks::open(path)?;
    let bar = progress_bar(chunks.file_len / 100, "loading CSV");
    // ~100 bytes a line in TLC files.
    let mut trips = Trips::with_capacity(chunks.color, (chunks.file_len / 100) as usize);
    while chunks.fill(&mut trips, usize::MAX, &bar)? {}
    bar.finish_and_clear();
    trips.shrink_to_fit();
    Ok(trips)
}

/// A CSV file of trips read a chunk of rows at a time (see [`super::stream`]).
pub(super) struct CsvChunks {
    path: std::path::PathBuf,
    reader: ::csv::Reader<std::fs::File>,
    headers: Vec<String>,
    positions: [usize; 5],
    pub(super) color: super::TaxiColor,
    pub(super) file_len: u64,
    record: ::csv::ByteRecord,
    rows: u64,
}

impl CsvChunks {
    /// Opens `path` and finds the needed columns in its header.
    pub(super) fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|source| PipelineError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(true)
            .buffer_capacity(1 << 20)
            .from_reader(file);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| csv_error(path, e))?
            .iter()
            .map(str::to_string)
            .collect();
        let located = locate_columns(path, &headers)?;
        Ok(CsvChunks {
            path: path.to_path_buf(),
            reader,
            headers,
            positions: located.positions,
            color: located.color,
            file_len,
            record: ::csv::ByteRecord::new(),
            rows: 0,
        })
    }

    /// The next chunk of at most `max_rows` rows, `None` at the end of the file.
    pub(super) fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Trips>> {
        let mut trips = Trips::with_capacity(self.color, max_rows.min(1 << 16));
        self.fill(&mut trips, max_rows, &indicatif::ProgressBar::hidden())?;
        Ok((!trips.is_empty()).then_some(trips))
    }

    /// Appends up to `max_rows` rows to `trips`; `false` once the file is exhausted.
    fn fill(
        &mut self,
        trips: &mut Trips,
        max_rows: usize,
        bar: &indicatif::ProgressBar,
    ) -> Result<bool> {
        let [p_pick, p_drop, p_pu, p_do, p_pc] = self.positions;
        let path = self.path.as_path();
        let headers = &self.headers;
        let record = &mut self.record;
        for _ in 0..max_rows {
            match self.reader.read_byte_record(record) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => return Err(csv_error(path, e)),
            }
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            let field = |pos: usize| record.get(pos).unwrap_or(b"");
            let parse_error = |pos: usize, expected: &'static str| PipelineError::Parse {
                path: path.to_path_buf(),
                line,
                column: headers[pos].clone(),
                value: String::from_utf8_lossy(field(pos)).into_owned(),
                expected,
            };
            const TS: &str = "a timestamp YYYY-MM-DD HH:MM:SS";
            const NUM: &str = "a number";
            let pickup = parse_timestamp(field(p_pick)).ok_or_else(|| parse_error(p_pick, TS))?;
            let dropoff = parse_timestamp(field(p_drop)).ok_or_else(|| parse_error(p_drop, TS))?;
            let pu = parse_number(field(p_pu)).ok_or_else(|| parse_error(p_pu, NUM))?;
            let dol = parse_number(field(p_do)).ok_or_else(|| parse_error(p_do, NUM))?;
            let pc = parse_number(field(p_pc)).ok_or_else(|| parse_error(p_pc, NUM))?;
            let (a, b, c, d, e) = trips.columns_mut();
            a.push(pickup);
            b.push(dropoff);
            c.push(pu);
            d.push(dol);
            e.push(pc);
            self.rows += 1;
            if self.rows.is_multiple_of(65_536) {
                bar.set_position(self.rows);
            }
        }
        Ok(true)
    }
}

fn csv_error(path: &Path, e: ::csv::Error) -> PipelineError {
    PipelineError::Csv {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Parses a number; an empty field (or pandas' `NA`/`NaN` spellings) is missing (`NaN`).
fn parse_number(field: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(field).ok()?.trim();
    match s {
        "" | "NA" | "NaN" | "nan" | "null" | "NULL" | "N/A" => Some(f64::NAN),
        _ => s.parse::<f64>().ok(),
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS` (or with a `T`) into nanoseconds since the epoch;
/// an empty field is missing ([`NAT`]).
pub(crate) fn parse_timestamp(field: &[u8]) -> Option<i64> {
    let s = field.trim_ascii();
    if s.is_empty() {
        return Some(NAT);
    }
    if s.len() != 19
        || s[4] != b'-'
        || s[7] != b'-'
        || !(s[10] == b' ' || s[10] == b'T')
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &s[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3_600 + mi * 60 + se) * 1_000_000_000)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_epoch_nanoseconds() {
        assert_eq!(parse_timestamp(b"1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_timestamp(b"2021-01-01 00:02:11"),
            Some(1_609_459_331_000_000_000)
        );
        assert_eq!(
            parse_timestamp(b"2024-02-29T23:59:59"),
            Some(1_709_251_199_000_000_000)
        );
        assert_eq!(parse_timestamp(b""), Some(NAT));
        assert_eq!(parse_timestamp(b"2021-02-30 00:00:00"), None);
        assert_eq!(parse_timestamp(b"2021-01-01 24:00:00"), None);
        assert_eq!(parse_timestamp(b"yesterday"), None);
    }

    #[test]
    fn numbers_parse_with_missing_as_nan() {
        assert_eq!(parse_number(b"1.0"), Some(1.0));
        assert_eq!(parse_number(b"255"), Some(255.0));
        assert!(parse_number(b"").unwrap().is_nan());
        assert_eq!(parse_number(b"one"), None);
    }
}
