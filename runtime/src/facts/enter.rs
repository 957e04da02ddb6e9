//! Running a lookup inside a network namespace: netlink sockets and
//! `/proc/sys/net` answer for the namespace of the thread that opens them,
//! so each lookup runs on a short-lived thread that joined the namespace.

use std::os::fd::AsRawFd;

/// Run `f` in the network namespace with inode `inode`.
pub fn in_netns<T: Send + 'static>(inode: u64, f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let ns = crate::netns::lookup(inode).ok_or_else(|| format!("namespace {inode} is gone"))?;
    let file = std::fs::File::open(&ns.path).map_err(|e| format!("cannot open {}: {e}", ns.path.display()))?;
    std::thread::spawn(move || {
        // SAFETY: setns on an open namespace file; it changes only this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("cannot enter namespace {}: {}", ns.name, std::io::Error::last_os_error()));
        }
        Ok(f())
    })
    .join()
    .map_err(|_| "the lookup thread failed".to_string())?
}
