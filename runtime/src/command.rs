//! `-c CMD`: a command started for the run. It is forked before the script
//! is compiled (so `cpid` is known) and held before exec until every probe
//! is attached, so its first instructions are traced; the run ends when it
//! exits.

use std::cell::Cell;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A forked command waiting to exec.
pub struct HeldCommand {
    pid: i32,
    /// Writing a byte here lets the child exec; closing it unwritten makes
    /// the child exit without running anything.
    go: Cell<Option<OwnedFd>>,
    status: Cell<Option<i32>>,
    pub line: String,
}

/// The file `program` names: as given when it has a `/`, else the first
/// executable of that name along `PATH`.
fn resolve(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| executable(p))
}

fn cstring(bytes: &[u8]) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| "a NUL byte in the command".to_string())
}

impl HeldCommand {
    /// Fork `line` (split as a shell would split words, without running a
    /// shell) and hold it before exec.
    pub fn fork(line: &str) -> Result<HeldCommand, String> {
        let words = shlex::split(line).filter(|w| !w.is_empty()).ok_or_else(|| format!("cannot split `{line}` into words (an unclosed quote?)"))?;
        let program = resolve(&words[0]).ok_or_else(|| format!("`{}`: no such executable (searched PATH)", words[0]))?;
        // Everything the child needs is made before fork: after it, the child
        // only calls read(2), execve(2) and _exit(2).
        let path = cstring(program.as_os_str().as_bytes())?;
        let argv: Vec<CString> = words.iter().map(|w| cstring(w.as_bytes())).collect::<Result<_, _>>()?;
        let envp: Vec<CString> = std::env::vars_os().map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat())).collect::<Result<_, _>>()?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
        envp_ptrs.push(std::ptr::null());
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("cannot make a pipe: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: both fds were just created and are owned here only.
        let (wait_end, go) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: the child calls only async-signal-safe functions on memory
        // prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("cannot fork: {}", std::io::Error::last_os_error()));
        }
        if pid == 0 {
            let mut byte = 0u8;
            // SAFETY: read(2) into a local byte; execve with NUL-terminated arrays.
            unsafe {
                libc::close(go.as_raw_fd());
                if libc::read(wait_end.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) == 1 {
                    libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr());
                }
                libc::_exit(127);
            }
        }
        drop(wait_end);
        Ok(HeldCommand { pid, go: Cell::new(Some(go)), status: Cell::new(None), line: line.to_string() })
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Let the command exec.
    pub fn release(&self) {
        if let Some(go) = self.go.take() {
            // SAFETY: writing one byte from a local to a pipe we own.
            unsafe { libc::write(go.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        }
    }

    /// Its exit status once it has ended (reaped on the first look).
    pub fn exited(&self) -> Option<i32> {
        if self.status.get().is_none() {
            let mut status = 0;
            // SAFETY: waiting for our own child without blocking.
            if unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) } == self.pid {
                let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
                self.status.set(Some(code));
            }
        }
        self.status.get()
    }
}

/// How long a command sent SIGTERM at the end of the run has to exit
/// before it is killed: one that ignores SIGTERM must not hold ntr forever.
const GRACE: std::time::Duration = std::time::Duration::from_secs(2);

impl Drop for HeldCommand {
    /// A command never released exits without running; one still running
    /// when the run stops is sent SIGTERM, and SIGKILL if it is still there
    /// `GRACE` later. Either way it is reaped.
    fn drop(&mut self) {
        let released = self.go.take().is_none();
        if self.exited().is_some() {
            return;
        }
        if released {
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + GRACE;
            while self.exited().is_none() {
                if std::time::Instant::now() >= deadline {
                    eprintln!("ntr: `{}` (pid {}) was still running {} s after SIGTERM: killed", self.line, self.pid, GRACE.as_secs());
                    // SAFETY: as above.
                    unsafe { libc::kill(self.pid, libc::SIGKILL) };
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        if self.exited().is_none() {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}
