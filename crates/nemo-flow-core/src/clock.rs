//! Timestamps and identifiers: uuid v7 ids and RFC 3339 (chrono-compatible) timestamps.

use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// Nanoseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self(d.as_nanos() as i64)
    }

    /// An end time for a span that started at `start`: `self`, or `start + 1µs` when the
    /// clock did not move forward, so an end never equals its start.
    pub fn after(self, start: Timestamp) -> Self {
        if self.0 <= start.0 {
            Timestamp(start.0 + 1_000)
        } else {
            self
        }
    }

    /// RFC 3339 in UTC with a `+00:00` offset and 0, 3, 6 or 9 fraction digits.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (sod / 3600, (sod % 3600) / 60, sod % 60);
        let frac = if nanos == 0 {
            String::new()
        } else if nanos % 1_000_000 == 0 {
            format!(".{:03}", nanos / 1_000_000)
        } else if nanos % 1_000 == 0 {
            format!(".{:06}", nanos / 1_000)
        } else {
            format!(".{nanos:09}")
        };
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}{frac}+00:00")
    }

    /// Parses the RFC 3339 forms this crate produces, plus `Z` and other offsets.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let mut i = 19;
        let mut nanos: i64 = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &s[start..i];
            if digits.is_empty() {
                return None;
            }
            let mut padded = digits.chars().take(9).collect::<String>();
            while padded.len() < 9 {
                padded.push('0');
            }
            nanos = padded.parse().ok()?;
        }
        let offset_secs = match &s[i..] {
            "Z" | "z" => 0,
            rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
                let oh: i64 = rest[1..3].parse().ok()?;
                let om: i64 = rest[4..6].parse().ok()?;
                let sign = if rest.starts_with('-') { -1 } else { 1 };
                sign * (oh * 3600 + om * 60)
            }
            _ => return None,
        };
        let days = days_from_civil(y, mo as u32, d as u32);
        let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_secs;
        // Out of the representable range (about 1677..2262) is refused, never wrapped.
        Some(Self(secs.checked_mul(1_000_000_000)?.checked_add(nanos)?))
    }
}

// Howard Hinnant's civil-calendar algorithms (public domain).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A new time-ordered (v7) identifier.
pub fn new_uuid() -> Uuid {
    stamp().1
}

/// The current time and a v7 uuid made from it: one clock read for both. The v7 counter
/// context is per thread (no lock), so ids are monotonic within a thread and ordered by
/// millisecond across threads.
pub fn stamp() -> (Timestamp, Uuid) {
    thread_local! {
        static CONTEXT: uuid::ContextV7 = const { uuid::ContextV7::new() };
    }
    let now = Timestamp::now();
    let secs = now.0.div_euclid(1_000_000_000) as u64;
    let nanos = now.0.rem_euclid(1_000_000_000) as u32;
    let uuid = CONTEXT.with(|c| Uuid::new_v7(uuid::Timestamp::from_unix(c, secs, nanos)));
    (now, uuid)
}

/// A v7 uuid and `explicit`, or the current time when none was given.
pub fn stamp_at(explicit: Option<Timestamp>) -> (Timestamp, Uuid) {
    let (now, uuid) = stamp();
    (explicit.unwrap_or(now), uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_chrono() {
        assert_eq!(
            Timestamp(1_577_836_801_000_000_000).to_rfc3339(),
            "2020-01-01T00:00:01+00:00"
        );
        assert_eq!(
            Timestamp(1_577_836_801_500_000_000).to_rfc3339(),
            "2020-01-01T00:00:01.500+00:00"
        );
        assert_eq!(
            Timestamp(1_577_836_801_000_001_000).to_rfc3339(),
            "2020-01-01T00:00:01.000001+00:00"
        );
        assert_eq!(
            Timestamp(1_577_836_801_000_000_001).to_rfc3339(),
            "2020-01-01T00:00:01.000000001+00:00"
        );
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00+00:00");
    }

    #[test]
    fn parse_round_trips_and_honours_offsets() {
        for ns in [
            0,
            1_577_836_801_000_000_000,
            1_800_000_000_123_456_789,
            951_782_400_000_000_000,
        ] {
            let t = Timestamp(ns);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2020-01-01T01:00:01+01:00"),
            Timestamp::parse_rfc3339("2020-01-01T00:00:01Z")
        );
        assert_eq!(Timestamp::parse_rfc3339("2020-13-01T00:00:00Z"), None);
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
        assert_eq!(Timestamp::parse_rfc3339("2999-01-01T00:00:00+00:00"), None);
        assert_eq!(Timestamp::parse_rfc3339("0001-01-01T00:00:00+00:00"), None);
    }

    #[test]
    fn end_is_strictly_after_start() {
        let start = Timestamp(10_000);
        assert_eq!(Timestamp(10_000).after(start), Timestamp(11_000));
        assert_eq!(Timestamp(5).after(start), Timestamp(11_000));
        assert_eq!(Timestamp(20_000).after(start), Timestamp(20_000));
    }

    #[test]
    fn uuids_are_v7_and_sorted() {
        let a = new_uuid();
        let b = new_uuid();
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b);
    }
}
