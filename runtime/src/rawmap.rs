//! Map access for keys and values whose size is only known at run time
//! (aya's typed maps want compile-time `Pod` types): the bpf(2) map
//! commands on a map's fd.

use std::io;
use std::os::fd::RawFd;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

#[repr(C)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn bpf(cmd: libc::c_long, attr: &mut ElemAttr) -> io::Result<()> {
    // SAFETY: `attr` is a valid, initialised bpf_attr prefix for map commands,
    // and the key/value pointers in it outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut ElemAttr, std::mem::size_of::<ElemAttr>()) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A map by fd with its key and (per-CPU-expanded) value sizes.
#[derive(Clone, Copy)]
pub struct RawMap {
    pub fd: RawFd,
    pub key_size: usize,
    /// Bytes a lookup returns: value size, or round_up(value, 8) × CPUs.
    pub value_size: usize,
}

impl RawMap {
    /// `cpus`: for a per-CPU map, the number of possible CPUs (`cpus::possible`).
    pub fn new(fd: RawFd, key_size: u32, value_size: u32, cpus: Option<usize>) -> RawMap {
        let value_size = match cpus {
            Some(n) => (value_size as usize).div_ceil(8) * 8 * n,
            None => value_size as usize,
        };
        RawMap { fd, key_size: key_size as usize, value_size }
    }

    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut next = vec![0u8; self.key_size];
        let mut prev: Option<Vec<u8>> = None;
        loop {
            let mut attr = ElemAttr {
                map_fd: self.fd as u32,
                _pad: 0,
                key: prev.as_ref().map(|k| k.as_ptr() as u64).unwrap_or(0),
                value: next.as_mut_ptr() as u64,
                flags: 0,
            };
            if bpf(BPF_MAP_GET_NEXT_KEY, &mut attr).is_err() {
                break;
            }
            keys.push(next.clone());
            prev = Some(next.clone());
        }
        keys
    }

    /// The kernel reads `key_size` bytes at a key's address: a key of
    /// another length never reaches it.
    fn fits(&self, key: &[u8]) -> bool {
        key.len() == self.key_size
    }

    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if !self.fits(key) {
            return None;
        }
        // The kernel writes `value_size` bytes here.
        let mut value = vec![0u8; self.value_size];
        let mut attr = ElemAttr { map_fd: self.fd as u32, _pad: 0, key: key.as_ptr() as u64, value: value.as_mut_ptr() as u64, flags: 0 };
        bpf(BPF_MAP_LOOKUP_ELEM, &mut attr).ok().map(|_| value)
    }

    pub fn delete(&self, key: &[u8]) {
        if !self.fits(key) {
            return;
        }
        let mut attr = ElemAttr { map_fd: self.fd as u32, _pad: 0, key: key.as_ptr() as u64, value: 0, flags: 0 };
        // A key deleted meanwhile is fine: the goal is an empty map.
        let _ = bpf(BPF_MAP_DELETE_ELEM, &mut attr);
    }

    pub fn clear(&self) {
        for k in self.keys() {
            self.delete(&k);
        }
    }

    /// (key, value) pairs; keys deleted between listing and lookup are skipped.
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.keys().into_iter().filter_map(|k| self.get(&k).map(|v| (k, v))).collect()
    }
}

/// The u64 of each CPU in a per-CPU value at byte `off` of `value_size`-byte slots.
pub fn per_cpu_u64(value: &[u8], value_size: u32, off: usize) -> Vec<u64> {
    let stride = (value_size as usize).div_ceil(8) * 8;
    value.chunks(stride).map(|c| u64_at(c, off)).collect()
}

pub fn u64_at(bytes: &[u8], off: usize) -> u64 {
    bytes.get(off..off + 8).map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes"))).unwrap_or(0)
}
