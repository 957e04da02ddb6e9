//! libpcap's filter compiler, loaded when a script first uses `filter()`.
//!
//! Linking libpcap would load it, and the libraries it links (dbus,
//! systemd, gcrypt, three compressors), into every ntr process: 1.5 ms and
//! 1.5 MiB more for `begin { exit(); }`, and a build that needs libpcap-dev.
//! Only scripts with a tcpdump expression need it, so it is opened with
//! dlopen(3) then, and a machine without it gets a diagnostic saying what
//! to install. The five functions used are libpcap's stable API
//! (pcap(3PCAP)); the `pcap` crate links the library at build time, so it
//! cannot serve here.

use std::ffi::{c_char, c_int, c_uint, CStr, CString};
use std::sync::OnceLock;

use crate::tir::CbpfInsn;

/// `struct bpf_insn` of <pcap/bpf.h>.
#[repr(C)]
struct BpfInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// `struct bpf_program` of <pcap/bpf.h>.
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut BpfInsn,
}

/// An opaque `pcap_t`.
#[repr(C)]
struct Pcap {
    _private: [u8; 0],
}

/// The sonames distributions install libpcap under, most common first.
const SONAMES: &[&str] = &["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];

/// `PCAP_NETMASK_UNKNOWN`: `ip broadcast` is refused rather than guessed.
const NETMASK_UNKNOWN: u32 = 0xffff_ffff;

struct Libpcap {
    open_dead: unsafe extern "C" fn(c_int, c_int) -> *mut Pcap,
    compile: unsafe extern "C" fn(*mut Pcap, *mut BpfProgram, *const c_char, c_int, u32) -> c_int,
    geterr: unsafe extern "C" fn(*mut Pcap) -> *mut c_char,
    freecode: unsafe extern "C" fn(*mut BpfProgram),
    close: unsafe extern "C" fn(*mut Pcap),
    /// Kept open for the process's life: the functions above point into it.
    _lib: libloading::Library,
}

fn load() -> Result<Libpcap, String> {
    let lib = SONAMES
        .iter()
        // SAFETY: libpcap's initialisers have no preconditions.
        .find_map(|name| unsafe { libloading::Library::new(name) }.ok())
        .ok_or_else(|| {
            format!("libpcap is not installed ({} not found); tcpdump filters need it (Debian and Ubuntu: apt install libpcap0.8)", SONAMES[0])
        })?;
    // SAFETY: each symbol has the C signature pcap(3PCAP) documents.
    unsafe {
        let sym = |name: &str| format!("libpcap lacks {name}");
        Ok(Libpcap {
            open_dead: *lib.get(b"pcap_open_dead\0").map_err(|_| sym("pcap_open_dead"))?,
            compile: *lib.get(b"pcap_compile\0").map_err(|_| sym("pcap_compile"))?,
            geterr: *lib.get(b"pcap_geterr\0").map_err(|_| sym("pcap_geterr"))?,
            freecode: *lib.get(b"pcap_freecode\0").map_err(|_| sym("pcap_freecode"))?,
            close: *lib.get(b"pcap_close\0").map_err(|_| sym("pcap_close"))?,
            _lib: lib,
        })
    }
}

fn libpcap() -> Result<&'static Libpcap, String> {
    static LIBPCAP: OnceLock<Result<Libpcap, String>> = OnceLock::new();
    LIBPCAP.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// Whether the error is libpcap missing rather than the expression refused.
pub(crate) fn missing(message: &str) -> bool {
    message.starts_with("libpcap is not installed")
}

/// libpcap's classic BPF for `text` on packets of link type `dlt`, or its
/// error message.
pub(crate) fn compile(text: &str, dlt: c_int) -> Result<Vec<CbpfInsn>, String> {
    let lib = libpcap()?;
    let expr = CString::new(text).map_err(|_| "a NUL byte in the expression".to_string())?;
    // SAFETY: a dead handle takes no resources but memory, closed below;
    // the program is filled by pcap_compile and freed by pcap_freecode.
    unsafe {
        let p = (lib.open_dead)(dlt, 65535);
        if p.is_null() {
            return Err(format!("libpcap cannot open a capture of link type {dlt}"));
        }
        let mut prog = BpfProgram { bf_len: 0, bf_insns: std::ptr::null_mut() };
        let result = if (lib.compile)(p, &mut prog, expr.as_ptr(), 1, NETMASK_UNKNOWN) != 0 {
            Err(CStr::from_ptr((lib.geterr)(p)).to_string_lossy().into_owned())
        } else {
            let insns = std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize);
            let out = insns.iter().map(|i| CbpfInsn { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
            (lib.freecode)(&mut prog);
            Ok(out)
        };
        (lib.close)(p);
        result
    }
}
