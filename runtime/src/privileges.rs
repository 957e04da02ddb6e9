//! Whether this process may trace, asked before anything is loaded, so a
//! user without privileges hears what is needed instead of a failed map
//! creation or a kernel blamed for EPERM.

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// `Err` says what is missing and what would do.
pub fn check() -> Result<(), String> {
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
    if !has(CAP_NET_ADMIN) && !has(CAP_SYS_ADMIN) {
        eprintln!("ntr: without CAP_NET_ADMIN, netfilter rules are not looked up");
    }
    if let Ok(mode) = std::fs::read_to_string("/sys/kernel/security/lockdown") {
        if mode.contains("[confidentiality]") {
            return Err("the kernel is locked down (confidentiality): it refuses BPF programs that read kernel memory".into());
        }
    }
    Ok(())
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
