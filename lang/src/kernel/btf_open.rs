//! Opening a BTF file for lazy lookups on every kernel.
//!
//! btf-rs's mmap backend decodes only the types a script asks about, which
//! keeps start-up fast and small. Older kernels (Debian 12's 6.1 among them)
//! refuse to mmap `/sys/kernel/btf/*` (ENODEV) although they read it fine; there the bytes
//! are copied into a memfd, which can be mapped, so lookups stay just as lazy
//! instead of falling back to btf-rs's eager parse of every type.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;

use btf_rs::{Backend, Btf};
use memmap2::Mmap;

/// How the BTF bytes reached memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BtfSource {
    /// The file itself is mapped.
    Mapped,
    /// The file refused mmap; its bytes were read into a memfd that is mapped.
    Copied,
}

/// The BTF of the file at `path`, how it reached memory, and its bytes
/// (mapped: the same pages btf-rs reads) for the name index.
pub fn open(path: &Path) -> Result<(Btf, BtfSource, Mmap), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot read BTF from {}: {e}", path.display());
    let mut file = File::open(path).map_err(|e| fail(&e))?;
    if can_map(&file) {
        let bytes = map(&file).map_err(|e| fail(&e))?;
        return Btf::from_file_with_backend(path, Backend::Mmap).map(|b| (b, BtfSource::Mapped, bytes)).map_err(|e| fail(&e));
    }
    let memfd = copy_to_memfd(&mut file).map_err(|e| fail(&e))?;
    let bytes = map(&memfd).map_err(|e| fail(&e))?;
    let via = format!("/proc/self/fd/{}", memfd.as_raw_fd());
    // btf-rs maps the memfd through its own open of that path; `memfd` may
    // close once it has.
    Btf::from_file_with_backend(&via, Backend::Mmap).map(|b| (b, BtfSource::Copied, bytes)).map_err(|e| fail(&e))
}

/// A private mapping: sysfs refuses shared ones of BTF.
fn map(file: &File) -> io::Result<Mmap> {
    // SAFETY: kernel BTF and a memfd only ntr writes do not change while
    // mapped.
    unsafe { memmap2::MmapOptions::new().map_copy_read_only(file) }
}

/// Whether the kernel lets this file be mapped (older kernels' sysfs BTF,
/// pipes and most procfs files do not).
fn can_map(file: &File) -> bool {
    // SAFETY: a fresh private read-only mapping of one page, unmapped at once;
    // no Rust reference ever points into it.
    unsafe {
        let addr = libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0);
        if addr == libc::MAP_FAILED {
            return false;
        }
        libc::munmap(addr, 4096);
    }
    true
}

fn copy_to_memfd(file: &mut File) -> io::Result<File> {
    // SAFETY: memfd_create takes a NUL-terminated name and flags.
    let fd = unsafe { libc::memfd_create(c"ntr-btf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let mut memfd = unsafe { File::from_raw_fd(fd) };
    io::copy(file, &mut memfd)?;
    Ok(memfd)
}
