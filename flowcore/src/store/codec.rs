//! How values are spelt in the database: timestamps, ids, run kinds and state types.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::connect::StoreError;
use crate::runtime::state::StateType;
use crate::schemas::events::RunKind;

/// A timestamp as the database spells it: RFC 3339 in UTC with microseconds,
/// `2021-01-01T00:15:56.123456Z` (chrono's `to_rfc3339_opts(Micros, true)`).
///
/// The writer spells several per task run, and chrono's formatter was a fifth of its
/// instructions: the part up to the seconds is formatted by chrono once per second and thread,
/// the microseconds are appended to it.
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    let mut out = String::with_capacity(27);
    push_ts(&mut out, t);
    out
}

/// Appends [`ts`]`(t)` to `out`.
pub(crate) fn push_ts(out: &mut String, t: &DateTime<Utc>) {
    thread_local! {
        /// The last whole second spelt on this thread, without its `Z`.
        static SECOND: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let nanos = t.timestamp_subsec_nanos();
    if nanos >= 1_000_000_000 {
        // A leap second: as chrono spells it.
        out.push_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true));
        return;
    }
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        let secs = t.timestamp();
        // (`i64::MIN`, the initial second, is before any a `DateTime` can hold.)
        if second.0 != secs {
            let mut prefix = t.to_rfc3339_opts(SecondsFormat::Secs, true);
            prefix.pop(); // the `Z`
            *second = (secs, prefix);
        }
        out.push_str(&second.1);
        let mut buffer = itoa::Buffer::new();
        let micros = buffer.format(nanos / 1000);
        out.push('.');
        out.extend(std::iter::repeat_n('0', 6 - micros.len()));
        out.push_str(micros);
        out.push('Z');
    })
}

/// Appends an id as the database spells it (hyphenated, lower case), without `fmt`.
pub(crate) fn push_id(out: &mut String, id: Uuid) {
    out.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
}

pub(crate) fn parse_ts(table: &'static str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            table,
            message: format!("timestamp {s:?}: {e}"),
        })
}

pub(crate) fn parse_id(table: &'static str, s: &str) -> Result<Uuid, StoreError> {
    s.parse().map_err(|e| StoreError::Corrupt {
        table,
        message: format!("id {s:?}: {e}"),
    })
}

pub(crate) fn kind_str(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Flow => "flow",
        RunKind::Task => "task",
    }
}

pub(crate) fn state_type_str(t: StateType) -> &'static str {
    t.as_str()
}

pub(crate) fn parse_state_type(table: &'static str, s: &str) -> Result<StateType, StoreError> {
    StateType::parse(s).ok_or_else(|| StoreError::Corrupt {
        table,
        message: format!("state type {s:?}"),
    })
}

/// The final state types as an SQL list, `('COMPLETED', 'FAILED', …)`, from [`StateType::is_final`].
pub(crate) fn final_types() -> &'static str {
    static LIST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        let quoted: Vec<String> = StateType::ALL
            .iter()
            .filter(|t| t.is_final())
            .map(|t| format!("'{}'", t.as_str()))
            .collect();
        format!("({})", quoted.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_are_spelt_as_chrono_spells_them() {
        let chrono = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
        let mut cases = vec![
            Utc::now(),
            DateTime::UNIX_EPOCH,
            Utc.with_ymd_and_hms(2021, 1, 1, 0, 15, 56).unwrap(),
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            // A leap second, as chrono represents it.
            Utc.with_ymd_and_hms(2016, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::nanoseconds(999_999_999),
        ];
        if let Some(leap) = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
        {
            cases.push(leap.and_utc());
        }
        let base = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        for micros in [
            0, 1, 9, 10, 99, 100, 999, 1000, 123_456, 999_999, 1_000_000, 5_432_101,
        ] {
            cases.push(base + chrono::Duration::microseconds(micros));
            // Sub-microsecond digits are cut, not rounded, as chrono does.
            cases.push(base + chrono::Duration::nanoseconds(micros * 1000 + 999));
        }
        // The same second twice in a row, then another, then back: the cached part follows.
        cases.push(base);
        cases.push(base + chrono::Duration::seconds(1));
        cases.push(base);
        for t in &cases {
            assert_eq!(ts(t), chrono(t), "{t:?}");
            if t.timestamp_subsec_nanos() < 1_000_000_000 {
                let cut =
                    chrono::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 1000));
                assert_eq!(parse_ts("t", &ts(t)).unwrap(), *t - cut, "{t:?}");
            }
        }
    }
}
