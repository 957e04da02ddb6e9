//! How many CPUs the kernel may ever bring up: a per-CPU map lookup writes
//! one value slot for each, so the buffer for it is sized from this count
//! and never from a guess.

use std::path::Path;

pub const POSSIBLE: &str = "/sys/devices/system/cpu/possible";

/// More CPUs than any kernel configures (NR_CPUS tops out at 8192): a list
/// claiming more is not believed.
const MAX_CPUS: usize = 1 << 16;

/// The number of possible CPUs, from `POSSIBLE`.
pub fn possible() -> Result<usize, String> {
    possible_from(Path::new(POSSIBLE))
}

/// The number of possible CPUs, from a file in the format of `POSSIBLE`.
pub fn possible_from(path: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}: per-CPU maps cannot be read without the number of possible CPUs", path.display()))?;
    count(&text).ok_or_else(|| format!("cannot understand {} (`{}`): expected a CPU list such as `0-3,5`", path.display(), text.trim()))
}

/// The number of CPUs in a kernel CPU list: `0`, `0-1`, `0-3,5`.
pub fn count(list: &str) -> Option<usize> {
    let mut total = 0usize;
    for part in list.trim().split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.parse::<usize>().ok()?, hi.parse::<usize>().ok()?),
            None => {
                let n = part.parse::<usize>().ok()?;
                (n, n)
            }
        };
        if hi < lo {
            return None;
        }
        total = total.checked_add(hi - lo + 1)?;
    }
    (total <= MAX_CPUS).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cpu_lists() {
        assert_eq!(count("0\n"), Some(1));
        assert_eq!(count("0-1\n"), Some(2));
        assert_eq!(count("0-3,5\n"), Some(5));
        assert_eq!(count("0-127\n"), Some(128));
        for bad in ["", "\n", "x", "0-", "-1", "3-1", "0,,1", "0-99999999"] {
            assert_eq!(count(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_the_file_and_refuses_when_it_cannot() {
        let dir = std::env::temp_dir().join(format!("ntr-cpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("possible");
        std::fs::write(&file, "0-3,5\n").unwrap();
        assert_eq!(possible_from(&file), Ok(5));
        std::fs::write(&file, "garbage\n").unwrap();
        let garbled = possible_from(&file).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(garbled.contains("possible") && garbled.contains("garbage"), "{garbled}");
        let missing = possible_from(&dir.join("possible")).unwrap_err();
        assert!(missing.contains(&dir.join("possible").display().to_string()) && missing.contains("per-CPU"), "{missing}");
    }

    #[test]
    fn this_machine_has_some() {
        assert!(possible().is_ok_and(|n| n >= 1));
    }
}
