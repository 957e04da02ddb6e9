//! Per-device IP settings (`net.ipv4.conf.DEV.*`, `net.ipv6.conf.DEV.*`)
//! of the calling thread's namespace.

/// The sysctl's dotted name.
pub fn name(ipv6: bool, dev: &str, name: &str) -> String {
    format!("net.{}.conf.{dev}.{name}", if ipv6 { "ipv6" } else { "ipv4" })
}

/// `net.ipv{4,6}.conf.{dev}.{name}`, or `None` when the device or setting is not there.
pub fn ip_conf(ipv6: bool, dev: &str, name: &str) -> Option<String> {
    // A device name cannot hold '/', so the path stays under conf/.
    if dev.contains('/') || dev == "." || dev == ".." {
        return None;
    }
    std::fs::read_to_string(format!("/proc/sys/{}", self::name(ipv6, dev, name).replace('.', "/"))).ok().map(|v| v.trim().to_string())
}
