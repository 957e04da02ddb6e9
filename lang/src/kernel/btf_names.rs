//! BTF type ids by name, indexed once: btf-rs finds a name by decoding
//! every type's header (~150,000 in vmlinux), which made each lookup of a
//! struct, an enum or a tracepoint's prototype cost milliseconds. One pass
//! over the type section reads only each type's name offset and length,
//! and keeps (hash of the name, id, name offset), sorted: about 2 MB,
//! built in a few milliseconds the first time a name is looked up; no type
//! is decoded.

/// Named types by the hash of their name.
pub struct NameIndex {
    /// (FNV-1a of the name, type id, name offset), sorted.
    entries: Vec<(u64, u32, u32)>,
    /// Where the string section starts in the bytes, and its length.
    strings: (usize, usize),
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// The NUL-terminated string at `off` of the string section.
fn string(bytes: &[u8], strings: (usize, usize), off: u32) -> Option<&[u8]> {
    let (start, len) = strings;
    let s = bytes.get(start + off as usize..start + len)?;
    Some(&s[..s.iter().position(|b| *b == 0)?])
}

impl NameIndex {
    /// The index of base BTF `bytes` (ids from 1); `None` when they are not
    /// BTF this reader knows (btf-rs's own lookup then serves).
    pub fn build(bytes: &[u8]) -> Option<NameIndex> {
        let magic = u16::from_le_bytes(bytes.get(..2)?.try_into().ok()?);
        let little = match magic {
            0xeb9f => true,
            0x9feb => false,
            _ => return None,
        };
        let u32_at = |at: usize| -> Option<u32> {
            let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
            Some(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
        };
        let (hdr_len, type_off, type_len, str_off, str_len) = (u32_at(4)?, u32_at(8)?, u32_at(12)?, u32_at(16)?, u32_at(20)?);
        let strings = ((hdr_len as usize).checked_add(str_off as usize)?, str_len as usize);
        bytes.get(strings.0..strings.0.checked_add(strings.1)?)?;
        let mut at = (hdr_len as usize).checked_add(type_off as usize)?;
        let end = at.checked_add(type_len as usize)?;
        let mut entries = Vec::with_capacity(type_len as usize / 24);
        let mut id = 1u32;
        while at < end {
            let (name_off, info) = (u32_at(at)?, u32_at(at + 4)?);
            let vlen = (info & 0xffff) as usize;
            // Bytes after the 12-byte header, by kind.
            let extra = match (info >> 24) & 0x1f {
                1 | 14 | 17 => 4,             // int, var, decl tag
                3 => 12,                      // array
                4 | 5 | 15 | 19 => 12 * vlen, // struct, union, datasec, enum64
                6 | 13 => 8 * vlen,           // enum, func proto
                2 | 7..=12 | 16 | 18 => 0,    // ptr, fwd, typedef, qualifiers, func, float, type tag
                _ => return None,
            };
            if name_off != 0 {
                entries.push((fnv(string(bytes, strings, name_off)?), id, name_off));
            }
            at += 12 + extra;
            id += 1;
        }
        if at != end {
            return None;
        }
        entries.sort_unstable();
        Some(NameIndex { entries, strings })
    }

    /// The ids of the types named `name`, in id order.
    pub fn ids(&self, bytes: &[u8], name: &str) -> Vec<u32> {
        let h = fnv(name.as_bytes());
        let from = self.entries.partition_point(|e| e.0 < h);
        self.entries[from..]
            .iter()
            .take_while(|e| e.0 == h)
            .filter(|e| string(bytes, self.strings, e.2) == Some(name.as_bytes()))
            .map(|e| e.1)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::NameIndex;

    #[test]
    fn the_index_finds_what_a_scan_finds() {
        let path = "/sys/kernel/btf/vmlinux";
        let bytes = std::fs::read(path).expect("kernel BTF");
        let index = NameIndex::build(&bytes).expect("BTF this reader knows");
        let btf = btf_rs::Btf::from_bytes(&bytes).unwrap();
        for name in
            ["sk_buff", "skb_drop_reason", "kfree_skb", "btf_trace_kfree_skb", "u32", "__probestub_kfree_skb", "ntr_no_such_type", "task_struct"]
        {
            assert_eq!(index.ids(&bytes, name), btf.resolve_ids_by_name(name).unwrap(), "{name}");
        }
    }
}
