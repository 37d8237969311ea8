//! When a deployment runs: every so often from an anchor, on a cron pattern in a time zone, or only
//! when asked.
//!
//! ```
//! use flowcore::schedule::{CronSchedule, IntervalSchedule, Schedule};
//! use chrono::{TimeZone, Utc};
//!
//! let weekly: Schedule = CronSchedule::new("0 0 * * 0")?.timezone("Europe/Paris")?.into();
//! let after = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
//! // Sunday 2026-11-29, midnight in Paris = 23:00 UTC on Saturday.
//! assert_eq!(weekly.next_after(after, 1), [Utc.with_ymd_and_hms(2026, 11, 28, 23, 0, 0).unwrap()]);
//!
//! let hourly: Schedule = IntervalSchedule::every(std::time::Duration::from_secs(3600))?.into();
//! assert_eq!(hourly.next_after(after, 2)[1], Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, 0).unwrap());
//! assert!(CronSchedule::new("61 * * * *").is_err());
//! assert!(CronSchedule::new("0 0 * * 0")?.timezone("Mars/Olympus").is_err());
//! # Ok::<(), flowcore::schedule::ScheduleError>(())
//! ```

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Why a schedule is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron pattern does not parse.
    #[error("invalid cron pattern {pattern:?}: {message} (expected 5 fields: minute hour day-of-month month day-of-week)")]
    Cron {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// The time zone is not an IANA name.
    #[error("unknown time zone {0:?} (expected an IANA name such as Europe/Paris or UTC)")]
    TimeZone(String),
    /// The interval is not whole seconds between one second and a hundred years.
    #[error("invalid interval {0:?}: it must be whole seconds, from one second to 100 years")]
    Interval(Duration),
}

/// A deployment's schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Schedule {
    /// Every `interval_s` seconds, at `anchor + k × interval`.
    Interval {
        /// Seconds between runs.
        #[serde(deserialize_with = "crate::schemas::integers::u64")]
        #[cfg_attr(feature = "server", schema(minimum = 1, maximum = 3_162_240_000_u64))]
        interval_s: u64,
        /// The time runs are aligned to.
        anchor: DateTime<Utc>,
    },
    /// A 5-field cron pattern, read in a time zone (daylight saving time handled as cron does: a
    /// fixed time inside a spring-forward gap runs right after the gap, once in a fall-back overlap).
    Cron {
        /// The pattern, e.g. `0 0 * * 0` (the schema shows the simplest patterns; lists, ranges
        /// and steps are accepted too).
        #[cfg_attr(
            feature = "server",
            schema(
                pattern = r"^(\*(/[1-9])?|[1-5]?[0-9]) (\*(/[1-9])?|1?[0-9]|2[0-3]) (\*|[1-9]|[12][0-9]|3[01]) (\*|[1-9]|1[0-2]) (\*|[0-6])$"
            )
        )]
        cron: String,
        /// An IANA time zone, e.g. `Europe/Paris`.
        #[cfg_attr(feature = "server", schema(schema_with = time_zone_schema))]
        timezone: String,
    },
}

/// The schema of a cron schedule's `timezone`: one of the IANA names.
#[cfg(feature = "server")]
fn time_zone_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
        .description(Some("An IANA time zone, e.g. `Europe/Paris`."))
        .build()
}

/// The longest interval: a hundred years.
const MAX_INTERVAL_S: u64 = 100 * 366 * 86_400;

/// Builds an interval schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalSchedule {
    interval_s: u64,
    anchor: DateTime<Utc>,
}

/// The default anchor: 2020-01-01T00:00:00Z (so that re-applying a deployment keeps its times).
fn default_anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

impl IntervalSchedule {
    /// Every `interval` (whole seconds, at least one), anchored at 2020-01-01T00:00:00Z.
    pub fn every(interval: Duration) -> Result<IntervalSchedule, ScheduleError> {
        if interval.as_secs() == 0
            || interval.subsec_nanos() != 0
            || interval.as_secs() > MAX_INTERVAL_S
        {
            return Err(ScheduleError::Interval(interval));
        }
        Ok(IntervalSchedule {
            interval_s: interval.as_secs(),
            anchor: default_anchor(),
        })
    }

    /// Aligns the runs to `anchor` instead.
    pub fn anchor(mut self, anchor: DateTime<Utc>) -> IntervalSchedule {
        self.anchor = anchor;
        self
    }
}

impl From<IntervalSchedule> for Schedule {
    fn from(s: IntervalSchedule) -> Schedule {
        Schedule::Interval {
            interval_s: s.interval_s,
            anchor: s.anchor,
        }
    }
}

/// Builds a cron schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct CronSchedule {
    cron: String,
    timezone: String,
}

fn parse_cron(pattern: &str) -> Result<croner::Cron, ScheduleError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| ScheduleError::Cron {
            pattern: pattern.to_string(),
            message: e.to_string(),
        })
}

fn parse_tz(name: &str) -> Result<chrono_tz::Tz, ScheduleError> {
    chrono_tz::Tz::from_str(name).map_err(|_| ScheduleError::TimeZone(name.to_string()))
}

impl CronSchedule {
    /// A 5-field cron pattern, read in UTC until [`timezone`](Self::timezone) says otherwise.
    pub fn new(pattern: &str) -> Result<CronSchedule, ScheduleError> {
        parse_cron(pattern)?;
        Ok(CronSchedule {
            cron: pattern.trim().to_string(),
            timezone: "UTC".into(),
        })
    }

    /// Reads the pattern in this IANA time zone.
    pub fn timezone(mut self, name: &str) -> Result<CronSchedule, ScheduleError> {
        parse_tz(name)?;
        self.timezone = name.to_string();
        Ok(self)
    }
}

impl From<CronSchedule> for Schedule {
    fn from(s: CronSchedule) -> Schedule {
        Schedule::Cron {
            cron: s.cron,
            timezone: s.timezone,
        }
    }
}

impl Schedule {
    /// Checks a schedule that arrived as data (e.g. through the API).
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            Schedule::Interval { interval_s, .. }
                if *interval_s == 0 || *interval_s > MAX_INTERVAL_S =>
            {
                Err(ScheduleError::Interval(Duration::from_secs(*interval_s)))
            }
            Schedule::Interval { .. } => Ok(()),
            Schedule::Cron { cron, timezone } => {
                parse_cron(cron)?;
                parse_tz(timezone)?;
                Ok(())
            }
        }
    }

    /// The next `n` run times strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        match self {
            Schedule::Interval { interval_s, anchor } => {
                let step = (*interval_s).clamp(1, MAX_INTERVAL_S) as i64;
                let since = after.timestamp() - anchor.timestamp();
                let mut k = since.div_euclid(step) + 1;
                // `after` may carry sub-seconds past an exact slot: that slot is not after it.
                let mut out = Vec::with_capacity(n);
                while out.len() < n {
                    let Some(t) = k
                        .checked_mul(step)
                        .and_then(chrono::Duration::try_seconds)
                        .and_then(|d| anchor.checked_add_signed(d))
                    else {
                        break;
                    };
                    if t > after {
                        out.push(t);
                    }
                    k += 1;
                }
                out
            }
            Schedule::Cron { cron, timezone } => {
                let (Ok(cron), Ok(tz)) = (parse_cron(cron), parse_tz(timezone)) else {
                    return Vec::new();
                };
                let mut out = Vec::with_capacity(n);
                let mut t = after.with_timezone(&tz);
                while out.len() < n {
                    match cron.find_next_occurrence(&t, false) {
                        Ok(next) => {
                            out.push(next.with_timezone(&Utc));
                            t = next;
                        }
                        Err(_) => break,
                    }
                }
                out
            }
        }
    }

    /// The schedule in words, e.g. `every 1 hour` or `cron "0 0 * * 0" (Europe/Paris)`.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Interval { interval_s, .. } => {
                let s = *interval_s;
                let (n, unit) = if s % 86_400 == 0 {
                    (s / 86_400, "day")
                } else if s % 3600 == 0 {
                    (s / 3600, "hour")
                } else if s % 60 == 0 {
                    (s / 60, "minute")
                } else {
                    (s, "second")
                };
                if n == 1 {
                    format!("every {unit}")
                } else {
                    format!("every {n} {unit}s")
                }
            }
            Schedule::Cron { cron, timezone } => format!("cron \"{cron}\" ({timezone})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn intervals_follow_their_anchor() {
        let s: Schedule = IntervalSchedule::every(Duration::from_secs(600))
            .unwrap()
            .anchor(utc(2026, 1, 1, 0, 3))
            .into();
        assert_eq!(
            s.next_after(utc(2026, 11, 27, 12, 0), 3),
            [
                utc(2026, 11, 27, 12, 3),
                utc(2026, 11, 27, 12, 13),
                utc(2026, 11, 27, 12, 23)
            ]
        );
        // Exactly on a slot: the next one.
        assert_eq!(
            s.next_after(utc(2026, 11, 27, 12, 3), 1),
            [utc(2026, 11, 27, 12, 13)]
        );
        // Before the anchor.
        assert_eq!(
            s.next_after(utc(2025, 12, 31, 23, 58), 1),
            [utc(2026, 1, 1, 0, 3)]
        );
        assert_eq!(s.describe(), "every 10 minutes");
        assert!(IntervalSchedule::every(Duration::from_millis(1500)).is_err());
        assert!(IntervalSchedule::every(Duration::ZERO).is_err());
    }

    #[test]
    fn cron_reads_its_time_zone() {
        let s: Schedule = CronSchedule::new("0 9 * * 1-5")
            .unwrap()
            .timezone("America/New_York")
            .unwrap()
            .into();
        // Friday 27 Nov 2026 (EST, UTC-5): 14:00 UTC; then Monday 30 Nov.
        assert_eq!(
            s.next_after(utc(2026, 11, 27, 12, 0), 2),
            [utc(2026, 11, 27, 14, 0), utc(2026, 11, 30, 14, 0)]
        );
    }

    #[test]
    fn cron_across_daylight_saving_time() {
        // Europe/Paris springs forward on 2026-03-29 at 02:00 → 03:00 and falls back on
        // 2026-10-25 at 03:00 → 02:00.
        let daily_0230: Schedule = CronSchedule::new("30 2 * * *")
            .unwrap()
            .timezone("Europe/Paris")
            .unwrap()
            .into();
        let spring = daily_0230.next_after(utc(2026, 3, 27, 12, 0), 3);
        assert_eq!(
            spring,
            [
                utc(2026, 3, 28, 1, 30), // 02:30 CET
                utc(2026, 3, 29, 1, 0),  // 02:30 does not exist: right after the gap, 03:00 CEST
                utc(2026, 3, 30, 0, 30), // 02:30 CEST
            ]
        );
        let autumn = daily_0230.next_after(utc(2026, 10, 24, 12, 0), 3);
        assert_eq!(
            autumn,
            [
                utc(2026, 10, 25, 0, 30), // the first 02:30 (CEST) only, not the second (CET)
                utc(2026, 10, 26, 1, 30),
                utc(2026, 10, 27, 1, 30),
            ]
        );
        // Midnight every Sunday in Paris, in summer and in winter.
        let weekly: Schedule = CronSchedule::new("0 0 * * 0")
            .unwrap()
            .timezone("Europe/Paris")
            .unwrap()
            .into();
        assert_eq!(
            weekly.next_after(utc(2026, 7, 1, 0, 0), 1),
            [utc(2026, 7, 4, 22, 0)]
        );
        assert_eq!(
            weekly.next_after(utc(2026, 12, 1, 0, 0), 1),
            [utc(2026, 12, 5, 23, 0)]
        );
    }

    #[test]
    fn bad_patterns_and_zones_are_named() {
        let err = CronSchedule::new("0 0 * *").unwrap_err();
        assert!(err.to_string().contains("\"0 0 * *\""), "{err}");
        let err = CronSchedule::new("0 0 * * 0")
            .unwrap()
            .timezone("Europe/Pariss")
            .unwrap_err();
        assert!(err.to_string().contains("Europe/Pariss"), "{err}");
        assert!(Schedule::Cron {
            cron: "x".into(),
            timezone: "UTC".into()
        }
        .validate()
        .is_err());
    }
}
