//! Network namespaces by inode: a human name for display (a name under
//! /run/netns, or a process living in it) and a path to enter it.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Where a network namespace can be entered and what to call it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Netns {
    pub inode: u64,
    /// `ip netns` name, `host` for the initial namespace, or `pid 1234 (comm)`.
    pub name: String,
    pub path: PathBuf,
}

/// The inode of the namespace a `/proc/PID/ns/net` or `/run/netns/NAME` is.
fn inode_of(path: &std::path::Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// The initial namespace: init's, or kthreadd's where init's is hidden
/// (kernel threads always live in the initial namespace).
fn host() -> Option<(u64, PathBuf)> {
    let init = PathBuf::from("/proc/1/ns/net");
    if let Some(ino) = inode_of(&init) {
        return Some((ino, init));
    }
    let comm = std::fs::read_to_string("/proc/2/comm").unwrap_or_default();
    let kthreadd = PathBuf::from("/proc/2/ns/net");
    (comm.trim() == "kthreadd").then(|| inode_of(&kthreadd).map(|i| (i, kthreadd))).flatten()
}

/// Find the namespace with this inode (the value `netns(skb)` gives).
pub fn lookup(inode: u64) -> Option<Netns> {
    if let Some((ino, path)) = host().filter(|(ino, _)| *ino == inode) {
        return Some(Netns { inode: ino, name: "host".into(), path });
    }
    if let Ok(dir) = std::fs::read_dir("/run/netns") {
        for entry in dir.flatten() {
            if inode_of(&entry.path()) == Some(inode) {
                return Some(Netns { inode, name: entry.file_name().to_string_lossy().into_owned(), path: entry.path() });
            }
        }
    }
    let procs = std::fs::read_dir("/proc").ok()?;
    for entry in procs.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = entry.path().join("ns/net");
        if inode_of(&path) == Some(inode) {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            return Some(Netns { inode, name: format!("pid {pid} ({})", comm.trim()), path });
        }
    }
    None
}

/// Every namespace ntr can find: the initial one, those named under
/// /run/netns, and those of running processes; each once.
pub fn all() -> Vec<Netns> {
    let mut out: Vec<Netns> = Vec::new();
    let mut add = |inode: Option<u64>, name: String, path: PathBuf| {
        if let Some(inode) = inode.filter(|i| !out.iter().any(|n| n.inode == *i)) {
            out.push(Netns { inode, name, path });
        }
    };
    if let Some((ino, path)) = host() {
        add(Some(ino), "host".into(), path);
    }
    for entry in std::fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        add(inode_of(&entry.path()), entry.file_name().to_string_lossy().into_owned(), entry.path());
    }
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid.bytes().all(|b| b.is_ascii_digit()) {
            let path = entry.path().join("ns/net");
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            add(inode_of(&path), format!("pid {pid} ({})", comm.trim()), path);
        }
    }
    out
}

/// Display name for a netns inode: its name when one is found, else the inode.
pub fn display(inode: u64) -> String {
    if inode == 0 {
        return "-".into();
    }
    lookup(inode).map(|n| n.name).unwrap_or_else(|| format!("netns:{inode}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_namespace_is_host() {
        let ino = inode_of("/proc/self/ns/net".as_ref()).expect("own netns");
        // Tests run in the initial namespace.
        assert_eq!(display(ino), "host");
        assert_eq!(display(1), "netns:1");
    }
}
