//! Calendar dates as `YYYY-MM-DD` (what `<input type="date">` submits), counted in days since
//! 1970-01-01 so they compare without a date library in the browser bundle.

/// A calendar date, as a day number (days since 1970-01-01).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub i64);

impl Day {
    /// Today on the server's clock (the browser gets it from the server with the page).
    #[cfg(feature = "ssr")]
    pub fn today() -> Day {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Day(secs.div_euclid(86_400))
    }

    /// Parses `YYYY-MM-DD`; `None` for any other shape or an impossible date.
    pub fn parse(s: &str) -> Option<Day> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = &s[r];
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())
                .flatten()
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        Some(Day(days_from_civil(y, m, d)))
    }

    /// Formats as `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        let (y, m, d) = civil_from_days(self.0);
        format!("{y:04}-{m:02}-{d:02}")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms (public domain), proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(Day::parse("1970-01-01"), Some(Day(0)));
        assert_eq!(Day::parse("2000-03-01"), Some(Day(11_017)));
        assert_eq!(
            Day::parse("2026-11-23").map(Day::iso).as_deref(),
            Some("2026-11-23")
        );
        assert_eq!(
            Day::parse("2028-02-29").map(Day::iso).as_deref(),
            Some("2028-02-29")
        );
    }

    #[test]
    fn impossible_or_foreign_shapes_are_refused() {
        for s in [
            "2027-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "5/1/2028",
            "2026-1-01",
            "",
            "２０２６-01-01",
        ] {
            assert_eq!(Day::parse(s), None, "{s}");
        }
    }

    proptest! {
        #[test]
        fn iso_round_trips(n in -1_000_000i64..3_000_000) {
            let day = Day(n);
            prop_assert_eq!(Day::parse(&day.iso()), if (0..=9999).contains(&civil_from_days(n).0) { Some(day) } else { None });
        }
    }
}
