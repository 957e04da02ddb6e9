//! Wall-clock time of events. Probes stamp `walltime` with the kernel's
//! boot-time clock (it runs through suspend, as the wall clock does); the
//! runtime adds the offset between CLOCK_REALTIME and CLOCK_BOOTTIME,
//! measured when the run starts, and shows the moment in the local time
//! zone (`TZ`, else /etc/localtime) or in UTC.

use std::cell::OnceCell;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

pub struct WallClock {
    /// Wall-clock nanoseconds minus boot-time nanoseconds.
    offset_ns: i128,
    utc: bool,
    /// Looked up at the first time shown: a run that shows none has no
    /// need of a zone (nor of a warning that there is none).
    tz: OnceCell<TimeZone>,
}

/// Nanoseconds of `clock` now.
pub(crate) fn now(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// CLOCK_REALTIME − CLOCK_BOOTTIME: of a few readings of the wall clock
/// between two of the boot clock, the one bracketed most tightly.
fn measure_offset() -> i128 {
    let mut best: Option<(i128, i128)> = None;
    for _ in 0..5 {
        let before = now(libc::CLOCK_BOOTTIME);
        let wall = now(libc::CLOCK_REALTIME);
        let after = now(libc::CLOCK_BOOTTIME);
        let (gap, offset) = (after - before, wall - (before + after) / 2);
        if best.is_none_or(|(g, _)| gap < g) {
            best = Some((gap, offset));
        }
    }
    best.map(|(_, o)| o).unwrap_or_default()
}

impl WallClock {
    /// Local time, or UTC when `utc` (or when the local zone cannot be
    /// told, which is said on stderr).
    pub fn new(utc: bool) -> WallClock {
        WallClock { offset_ns: measure_offset(), utc, tz: OnceCell::new() }
    }

    /// A clock whose boot was `offset_ns` after the epoch, in `tz`.
    pub fn fixed(offset_ns: i128, tz: TimeZone) -> WallClock {
        WallClock { offset_ns, utc: false, tz: OnceCell::from(tz) }
    }

    fn tz(&self) -> &TimeZone {
        self.tz.get_or_init(|| {
            if self.utc {
                return TimeZone::UTC;
            }
            TimeZone::try_system().unwrap_or_else(|e| {
                eprintln!("ntr: cannot tell the local time zone ({e}): times are shown in UTC");
                TimeZone::UTC
            })
        })
    }

    fn zoned(&self, boot_ns: u64) -> Option<Zoned> {
        let ts = Timestamp::from_nanosecond(boot_ns as i128 + self.offset_ns).ok()?;
        Some(ts.to_zoned(self.tz().clone()))
    }

    /// Seconds since the Unix epoch, as Prometheus gives times.
    pub fn unix_seconds(&self, boot_ns: u64) -> f64 {
        (boot_ns as i128 + self.offset_ns) as f64 / 1e9
    }

    /// Nanoseconds since the Unix epoch (capture files' timestamps).
    pub fn unix_nanos(&self, boot_ns: u64) -> i128 {
        boot_ns as i128 + self.offset_ns
    }

    /// `14:05:23.123456`, for lines read by people.
    pub fn text(&self, boot_ns: u64) -> String {
        match self.zoned(boot_ns) {
            Some(z) => format!("{:02}:{:02}:{:02}.{:06}", z.hour(), z.minute(), z.second(), z.subsec_nanosecond() / 1000),
            None => format!("(boot time {boot_ns}ns)"),
        }
    }

    /// With a strftime format (checked by the front end; a failure here is
    /// shown, not hidden).
    pub fn strftime(&self, format: &str, boot_ns: u64) -> String {
        match self.zoned(boot_ns) {
            Some(z) => jiff::fmt::strtime::format(format, &z).unwrap_or_else(|e| format!("(time format: {e})")),
            None => format!("(boot time {boot_ns}ns)"),
        }
    }

    /// RFC 3339 with the zone's offset, `2026-11-26T14:05:23.123456+01:00`,
    /// for records read by programs.
    pub fn json(&self, boot_ns: u64) -> String {
        let Some(z) = self.zoned(boot_ns) else { return self.text(boot_ns) };
        let off = z.offset().seconds();
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.unsigned_abs();
        format!("{}T{}{sign}{:02}:{:02}", z.date(), self.text(boot_ns), off / 3600, off % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_zone_are_applied() {
        // 2026-11-26T14:05:23.1234567Z, 10 s after boot.
        let wall: i128 = 1_795_701_923_123_456_700;
        let boot = 10_000_000_000u64;
        let utc = WallClock::fixed(wall - boot as i128, TimeZone::UTC);
        assert_eq!(utc.text(boot), "14:05:23.123456");
        assert_eq!(utc.json(boot), "2026-11-26T14:05:23.123456+00:00");
        let tz = TimeZone::posix("IST-5:30").unwrap();
        let india = WallClock::fixed(wall - boot as i128, tz);
        assert_eq!(india.text(boot), "19:35:23.123456");
        assert_eq!(india.json(boot), "2026-11-26T19:35:23.123456+05:30");
        let tz = TimeZone::posix("NST3:30").unwrap();
        assert_eq!(WallClock::fixed(wall - boot as i128, tz).json(boot), "2026-11-26T10:35:23.123456-03:30");
        assert_eq!(india.strftime("%Y-%m-%d %H:%M:%S.%6f %z", boot), "2026-11-26 19:35:23.123456 +0530");
    }

    #[test]
    fn the_measured_offset_matches_the_clocks() {
        let clock = WallClock::new(true);
        let expected = now(libc::CLOCK_REALTIME) - now(libc::CLOCK_BOOTTIME);
        assert!((clock.offset_ns - expected).abs() < 5_000_000, "{} vs {expected}", clock.offset_ns);
    }
}
