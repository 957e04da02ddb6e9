//! Per-device IPv4 settings (`net.ipv4.conf.DEV.*`) of the calling
//! thread's namespace.

/// `net.ipv4.conf.{dev}.{name}`, or `None` when the device or setting is not there.
pub fn ipv4_conf(dev: &str, name: &str) -> Option<String> {
    // A device name cannot hold '/', so the path stays under conf/.
    if dev.contains('/') || dev == "." || dev == ".." {
        return None;
    }
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{dev}/{name}")).ok().map(|v| v.trim().to_string())
}
