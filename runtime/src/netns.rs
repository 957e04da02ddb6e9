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
fn host() -> Option<PathBuf> {
    let init = PathBuf::from("/proc/1/ns/net");
    if inode_of(&init).is_some() {
        return Some(init);
    }
    let comm = std::fs::read_to_string("/proc/2/comm").unwrap_or_default();
    (comm.trim() == "kthreadd").then(|| PathBuf::from("/proc/2/ns/net"))
}

/// What a namespace is called, by where it was found.
enum Label {
    Host,
    Named(String),
    /// A process living in it: its pid and /proc directory.
    Process(String, PathBuf),
}

impl Label {
    fn name(self) -> String {
        match self {
            Label::Host => "host".into(),
            Label::Named(n) => n,
            Label::Process(pid, dir) => {
                let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
                format!("pid {pid} ({})", comm.trim())
            }
        }
    }
}

/// Every place a namespace can be entered, best name first: the initial
/// namespace, those named under /run/netns, those of running processes.
fn candidates() -> impl Iterator<Item = (PathBuf, Label)> {
    let named = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.path(), Label::Named(e.file_name().to_string_lossy().into_owned())));
    let processes = std::fs::read_dir("/proc").into_iter().flatten().flatten().filter_map(|e| {
        let pid = e.file_name().to_string_lossy().into_owned();
        pid.bytes().all(|b| b.is_ascii_digit()).then(|| (e.path().join("ns/net"), Label::Process(pid, e.path())))
    });
    host().map(|p| (p, Label::Host)).into_iter().chain(named).chain(processes)
}

/// Find the namespace with this inode (the value `netns(skb)` gives).
pub fn lookup(inode: u64) -> Option<Netns> {
    let (path, label) = candidates().find(|(path, _)| inode_of(path) == Some(inode))?;
    Some(Netns { inode, name: label.name(), path })
}

/// Every namespace ntr can find, each once, by its best name.
pub fn all() -> Vec<Netns> {
    let mut out: Vec<Netns> = Vec::new();
    for (path, label) in candidates() {
        if let Some(inode) = inode_of(&path).filter(|i| !out.iter().any(|n| n.inode == *i)) {
            out.push(Netns { inode, name: label.name(), path });
        }
    }
    out
}

/// Run `f` on a short-lived thread that joined namespace `ns`: netlink
/// sockets, `/proc/thread-self/net` and `/proc/sys/net` then answer for
/// that namespace, and ntr's own threads stay where they are.
pub fn within<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> std::io::Result<T> {
    let file = std::fs::File::open(&ns.path)?;
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a descriptor this thread owns; only this
        // thread's namespace changes, and the thread ends with `f`.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(f())
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("the thread inside the namespace panicked")))
}

/// The devices of a namespace, read from inside it.
fn devices(ns: &Netns) -> std::io::Result<Vec<String>> {
    within(ns, || {
        // `Inter-|   Receive …` header lines, then `  eth0: 123 …`.
        let text = std::fs::read_to_string("/proc/thread-self/net/dev")?;
        Ok(text.lines().skip(2).filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_string())).collect())
    })?
}

/// What parameters naming namespaces and devices are checked against.
pub struct Namespaces;

impl ntr_lang::host::Host for Namespaces {
    fn named_netns(&self) -> Vec<(String, u64)> {
        candidates()
            .filter(|(_, label)| !matches!(label, Label::Process(..)))
            .filter_map(|(path, label)| Some((label.name(), inode_of(&path)?)))
            .collect()
    }

    fn netns_of_pid(&self, pid: u32) -> Option<u64> {
        inode_of(&PathBuf::from(format!("/proc/{pid}/ns/net")))
    }

    fn device_exists(&self, ifname: &str) -> bool {
        all().iter().any(|ns| devices(ns).is_ok_and(|d| d.iter().any(|n| n == ifname)))
    }
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

    #[test]
    fn namespaces_by_name_and_pid_and_devices() {
        use ntr_lang::host::Host;
        let named = Namespaces.named_netns();
        assert_eq!(named.first().map(|(n, _)| n.as_str()), Some("host"), "{named:?}");
        // Every namespace has a loopback device; no name is 16 bytes long.
        assert!(Namespaces.device_exists("lo"));
        assert!(!Namespaces.device_exists("no-such-dev-xyz"));
        let own = inode_of("/proc/self/ns/net".as_ref());
        assert_eq!(Namespaces.netns_of_pid(std::process::id()), own);
    }
}
