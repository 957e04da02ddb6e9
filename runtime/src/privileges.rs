//! Whether this process may trace, asked before anything is loaded, so a
//! user without privileges hears what is needed instead of a failed map
//! creation or a kernel blamed for EPERM.

const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

const TRACEFS: &str = "/sys/kernel/tracing";

/// `Err` says what is missing and what would do. `Ok` carries what works
/// less well with the privileges this process has, one sentence each.
pub fn check() -> Result<Vec<String>, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("cannot read /proc/self/status to check privileges: {e}"))?;
    let caps = effective_caps(&status).ok_or("cannot find CapEff in /proc/self/status")?;
    let has = |cap: u32| caps & (1 << cap) != 0;
    let may_trace = has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
    if !may_trace {
        return Err(format!(
            "ntr needs root, or CAP_BPF and CAP_PERFMON (+ CAP_NET_ADMIN for netfilter rule lookups); this process has {}",
            if caps == 0 { "no capabilities".to_string() } else { format!("capabilities {caps:#x} only") }
        ));
    }
    if let Ok(mode) = std::fs::read_to_string("/sys/kernel/security/lockdown") {
        if mode.contains("[confidentiality]") {
            return Err("the kernel is locked down (confidentiality): it refuses BPF programs that read kernel memory".into());
        }
    }
    // tracefs is root's (mode 0700): unreadable, tracepoints look absent.
    if let Err(e) = std::fs::read_dir(format!("{TRACEFS}/events")) {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(if has(CAP_DAC_READ_SEARCH) {
                format!("cannot read tracefs ({TRACEFS}: {e}) even with CAP_DAC_READ_SEARCH: ntr needs it to read tracepoints")
            } else {
                format!("cannot read tracefs ({TRACEFS}: {e}): ntr needs root, or CAP_DAC_READ_SEARCH besides CAP_BPF and CAP_PERFMON, to read tracepoints")
            });
        }
    }
    let mut limits = Vec::new();
    // Reading rulesets takes CAP_NET_ADMIN itself: CAP_SYS_ADMIN does not do.
    if !has(CAP_NET_ADMIN) {
        limits.push("without CAP_NET_ADMIN, netfilter rules are not looked up".to_string());
    }
    if kernel_addresses_hidden() {
        limits.push("kernel symbols are hidden from this process (/proc/kallsyms shows them with CAP_SYSLOG): kernel addresses print bare".into());
    }
    // netns.rs finds the host's namespace through init's or kthreadd's.
    let sees_host = ["/proc/1/ns/net", "/proc/2/ns/net"].iter().any(|p| std::fs::metadata(p).is_ok());
    if !has(CAP_SYS_ADMIN) || !sees_host {
        limits.push(
            "without CAP_SYS_ADMIN (and, not as root, CAP_SYS_PTRACE) ntr cannot enter other network namespaces: facts in them are not looked up"
                .into(),
        );
    }
    Ok(limits)
}

/// Whether `/proc/kallsyms` shows this process zeros instead of addresses.
fn kernel_addresses_hidden() -> bool {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open("/proc/kallsyms") else {
        return true;
    };
    let mut first = String::new();
    let _ = std::io::BufReader::new(file).read_line(&mut first);
    first.split_whitespace().next().is_none_or(|addr| addr.bytes().all(|b| b == b'0'))
}

/// The effective capability set from `/proc/self/status`.
fn effective_caps(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_set() {
        assert_eq!(effective_caps("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n"), Some(0x1ff_ffff_ffff));
        assert_eq!(effective_caps("CapEff:\t0000000000000000\n"), Some(0));
        assert_eq!(effective_caps("Name:\tx\n"), None);
    }
}
