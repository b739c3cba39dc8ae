//! Wall-clock time as the numbers zoll stores (milliseconds and seconds since the Unix epoch)
//! and RFC 3339 UTC stamps of them, written without a date library: the `time` crate only
//! formats years 0 to 9999 and would make these fallible; here every input gives a string.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the epoch; zero for a clock set before 1970, which has nothing better to say.
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Milliseconds since the epoch: 0 before 1970, `i64::MAX` past what an `i64` holds (the
/// metadata columns are `BIGINT`).
pub fn now_ms() -> i64 {
    i64::try_from(since_epoch().as_millis()).unwrap_or(i64::MAX)
}

/// Seconds since the epoch, 0 before 1970.
pub fn now_secs() -> u64 {
    since_epoch().as_secs()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of milliseconds since the epoch (events, audit exports, the
/// scans API).
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let mut out = date_time(secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let _ = write!(out, ".{:03}Z", ms.rem_euclid(1000));
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since the epoch (SBOM and database stamps).
pub fn rfc3339_secs(secs: u64) -> String {
    // u64::MAX / 86 400 is about 2.1e14 days, well inside an i64: the casts cannot wrap.
    let mut out = date_time((secs / 86_400).cast_signed(), (secs % 86_400).cast_signed());
    out.push('Z');
    out
}

/// [`rfc3339_secs`] of now.
pub fn rfc3339_now() -> String {
    rfc3339_secs(now_secs())
}

/// `YYYY-MM-DDTHH:MM:SS` of a day since 1970-01-01 and a second of that day.
fn date_time(days: i64, second_of_day: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Proleptic Gregorian (year, month, day) of days since 1970-01-01, Howard Hinnant's
/// `civil_from_days`: exact for every day count whose year fits an i64, no table, no loop.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shift the epoch to 0000-03-01, so the leap day is the last day of a year, and count
    // in 400-year eras of 146 097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Where code that decides by time (timelocks, expiry) reads it: the wall clock in the server,
/// a clock the test moves in tests, so that an hour-long timelock is tested in milliseconds
/// and nothing waits on a slow machine.
pub trait Clock: std::fmt::Debug + Send + Sync {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64;
}

/// The wall clock ([`now_ms`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that stands still until it is moved (tests).
#[derive(Debug)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// Starting at `ms` since the epoch.
    pub fn at(ms: i64) -> ManualClock {
        ManualClock(std::sync::atomic::AtomicI64::new(ms))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_moved() {
        let c = ManualClock::at(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(Duration::from_secs(3600));
        assert_eq!(c.now_ms(), 3_601_000);
        assert!(
            SystemClock.now_ms() > 1_700_000_000_000,
            "the wall clock is after 2023"
        );
    }

    #[test]
    fn milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_827_696_789), "2000-02-29T12:34:56.789Z");
        assert_eq!(rfc3339_ms(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        // Before the epoch the second rounds down and the milliseconds count up from it.
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_ms(-1_001), "1969-12-31T23:59:58.999Z");
        assert_eq!(rfc3339_ms(-62_135_596_800_000), "0001-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(-62_167_219_200_000), "0000-01-01T00:00:00.000Z");
        // Years before 0 and past 9999 still give a string (a date library would fail).
        assert_eq!(rfc3339_ms(-62_198_755_200_000), "-001-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_ms(253_402_300_800_000), "10000-01-01T00:00:00.000Z");
        assert!(rfc3339_ms(i64::MIN).ends_with(".192Z"));
        assert!(rfc3339_ms(i64::MAX).ends_with(".807Z"));
    }

    #[test]
    fn seconds_and_leap_years() {
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(rfc3339_secs(1_709_164_800 + 86_400), "2024-03-01T00:00:00Z");
        // 2100 is not a leap year (divisible by 100), 2000 is (by 400).
        assert_eq!(rfc3339_secs(4_107_542_400 - 86_400), "2100-02-28T00:00:00Z");
        assert_eq!(rfc3339_secs(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_secs(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_secs(253_402_300_800), "10000-01-01T00:00:00Z");
        assert!(rfc3339_secs(u64::MAX).ends_with("T07:00:15Z"));
        // Before 1970 only through milliseconds (seconds are unsigned): 1900 is not a leap
        // year, 1600 is.
        assert_eq!(rfc3339_ms(-2_203_977_600_000), "1900-02-28T00:00:00.000Z");
        assert_eq!(rfc3339_ms(-2_203_891_200_000), "1900-03-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(-11_670_998_400_000), "1600-02-29T00:00:00.000Z");
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
        assert!(now_secs() > 1_577_836_800);
        assert!(rfc3339_now().ends_with('Z'));
    }
}
