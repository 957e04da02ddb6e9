//! Map access for keys and values whose size is only known at run time
//! (aya's typed maps want compile-time `Pod` types): the bpf(2) map
//! commands on a map's fd.

use std::io;
use std::os::fd::RawFd;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// `bpf_attr` for the batch commands.
#[repr(C)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Entries asked for per batch call: a few syscalls for a full map.
const BATCH: usize = 4096;

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

    /// Whether the map has no entry: one key asked for, not all.
    pub fn is_empty(&self) -> bool {
        let mut first = vec![0u8; self.key_size];
        let mut attr = ElemAttr { map_fd: self.fd as u32, _pad: 0, key: 0, value: first.as_mut_ptr() as u64, flags: 0 };
        bpf(BPF_MAP_GET_NEXT_KEY, &mut attr).is_err()
    }

    pub fn clear(&self) {
        for k in self.keys() {
            self.delete(&k);
        }
    }

    /// The entries: in batches where the kernel has them (5.6 on), else
    /// key by key (keys deleted between listing and lookup are skipped).
    pub fn entries(&self) -> Entries {
        self.batch_entries().unwrap_or_else(|| {
            let mut out = Entries::new(self.key_size, self.value_size);
            for k in self.keys() {
                if let Some(v) = self.get(&k) {
                    out.push(&k, &v);
                }
            }
            out
        })
    }

    /// `None` where the kernel cannot look the map up in batches.
    fn batch_entries(&self) -> Option<Entries> {
        let mut out = Entries::new(self.key_size, self.value_size);
        // The position between calls: a bucket index for hash maps, a key
        // for others; room for either.
        let token_size = self.key_size.max(8);
        let (mut token_in, mut token_out) = (vec![0u8; token_size], vec![0u8; token_size]);
        let mut want = BATCH;
        let mut first = true;
        loop {
            // The kernel writes up to `count` keys and values here.
            let mut keys = vec![0u8; want * self.key_size];
            let mut values = vec![0u8; want * self.value_size];
            let mut attr = BatchAttr {
                in_batch: if first { 0 } else { token_in.as_ptr() as u64 },
                out_batch: token_out.as_mut_ptr() as u64,
                keys: keys.as_mut_ptr() as u64,
                values: values.as_mut_ptr() as u64,
                count: want as u32,
                map_fd: self.fd as u32,
                elem_flags: 0,
                flags: 0,
            };
            // SAFETY: `attr` is a valid bpf_attr for BPF_MAP_LOOKUP_BATCH; the
            // buffers it points to hold `count` keys and values and a token,
            // and outlive the call.
            let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_MAP_LOOKUP_BATCH, &mut attr as *mut BatchAttr, std::mem::size_of::<BatchAttr>()) };
            let err = (rc < 0).then(|| io::Error::last_os_error().raw_os_error().unwrap_or(0));
            match err {
                // A bucket holds more entries than asked for: ask for more.
                Some(libc::ENOSPC) if want < 1 << 20 => {
                    want *= 4;
                    continue;
                }
                None | Some(libc::ENOENT) => {}
                // Not supported for this map or kernel.
                Some(_) => return None,
            }
            let got = (attr.count as usize).min(want);
            out.extend(got, &keys[..got * self.key_size], &values[..got * self.value_size]);
            if err == Some(libc::ENOENT) {
                return Some(out);
            }
            first = false;
            std::mem::swap(&mut token_in, &mut token_out);
        }
    }
}

/// A map's entries as read: keys and values of the map's sizes, each kind
/// back to back (a map of 100,000 keys is two allocations, not 200,000).
pub struct Entries {
    key_size: usize,
    value_size: usize,
    count: usize,
    keys: Vec<u8>,
    values: Vec<u8>,
}

impl Entries {
    pub fn new(key_size: usize, value_size: usize) -> Entries {
        Entries { key_size, value_size, count: 0, keys: Vec::new(), values: Vec::new() }
    }

    /// Adds an entry; false, and nothing added, when its key or value is
    /// not of the map's size.
    pub fn push(&mut self, key: &[u8], value: &[u8]) -> bool {
        if key.len() != self.key_size || value.len() != self.value_size {
            return false;
        }
        self.extend(1, key, value);
        true
    }

    /// Adds `n` entries: `n` keys and `n` values back to back.
    fn extend(&mut self, n: usize, keys: &[u8], values: &[u8]) {
        self.keys.extend_from_slice(keys);
        self.values.extend_from_slice(values);
        self.count += n;
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let (ks, vs) = (self.key_size, self.value_size);
        (0..self.count).map(move |i| (&self.keys[i * ks..(i + 1) * ks], &self.values[i * vs..(i + 1) * vs]))
    }
}

/// The u64 of each CPU in a per-CPU value at byte `off` of `value_size`-byte slots.
pub fn per_cpu_u64(value: &[u8], value_size: u32, off: usize) -> impl Iterator<Item = u64> + '_ {
    let stride = (value_size as usize).div_ceil(8) * 8;
    value.chunks(stride).map(move |c| u64_at(c, off))
}

pub fn u64_at(bytes: &[u8], off: usize) -> u64 {
    bytes.get(off..off + 8).map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes"))).unwrap_or(0)
}
