//! Wall-clock times as ntr prints them, read back and checked against the
//! system clock around the traffic, by arithmetic of their own (no time
//! zone library): `HH:MM:SS.ffffff` on text lines, RFC 3339 in JSON.

use std::time::{SystemTime, UNIX_EPOCH};

const DAY_US: i64 = 86_400_000_000;
/// What a time may stray from the window: ntr measures its clock offset
/// once, at start, to within microseconds.
const SLACK_US: i64 = 2_000;

/// Microseconds since the epoch, now.
pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

/// A line's leading `HH:MM:SS.ffffff `: microseconds into the day, and the
/// rest of the line.
pub fn split_clock(line: &str) -> Option<(i64, &str)> {
    let (clock, rest) = line.split_once(' ')?;
    let b = clock.as_bytes();
    let ok = b.len() == 15 && b[2] == b':' && b[5] == b':' && b[8] == b'.';
    let num = |r: std::ops::Range<usize>| clock.get(r)?.parse::<i64>().ok();
    if !ok {
        return None;
    }
    Some((((num(0..2)? * 60 + num(3..5)?) * 60 + num(6..8)?) * 1_000_000 + num(9..15)?, rest))
}

/// Whether a time of day (µs, in a zone `offset_s` east of UTC) falls in
/// the window [from, to] of epoch microseconds.
pub fn time_of_day_within(tod: i64, from: i64, to: i64, offset_s: i64) -> bool {
    let start = (from + offset_s * 1_000_000 - SLACK_US).rem_euclid(DAY_US);
    (tod - start).rem_euclid(DAY_US) <= to - from + 2 * SLACK_US
}

/// Whether an epoch time (µs) falls in the window [from, to].
pub fn within(t: i64, from: i64, to: i64) -> bool {
    from - SLACK_US <= t && t <= to + SLACK_US
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-26T19:35:23.123456+05:30`: (epoch µs, offset in seconds).
pub fn parse_rfc3339(s: &str) -> Option<(i64, i64)> {
    let (date, rest) = s.split_once('T')?;
    let (clock, offset) = rest.split_at(rest.find(['+', '-'])?);
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (tod, _) = split_clock(&format!("{clock} "))?;
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let (oh, om) = offset[1..].split_once(':')?;
    let offset_s = sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60);
    Some((days_from_civil(y, m, day) * DAY_US + tod - offset_s * 1_000_000, offset_s))
}
