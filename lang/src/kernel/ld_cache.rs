//! Libraries by name (`libc`, `libssl.so`) through the dynamic linker's
//! cache, `/etc/ld.so.cache`, matched as the attach matches them (aya): the
//! first entry whose name is NAME followed by `.so`.

use std::path::PathBuf;

pub const PATH: &str = "/etc/ld.so.cache";
const NEW: &[u8] = b"glibc-ld.so.cache1.1";
const OLD: &[u8] = b"ld.so-1.7.0\0";

/// The file the library `name` is, or `None` when the cache has no such
/// library; an error when the cache cannot be read or parsed.
pub fn find(name: &str) -> Result<Option<PathBuf>, String> {
    let data = std::fs::read(PATH).map_err(|e| format!("cannot read {PATH}: {}", super::errno::describe(&e)))?;
    let stem = name.strip_suffix(".so").unwrap_or(name);
    for (key, value) in entries(&data).ok_or_else(|| format!("{PATH} is damaged"))? {
        if key.strip_prefix(stem.as_bytes()).is_some_and(|rest| rest.starts_with(b".so")) {
            return Ok(Some(PathBuf::from(String::from_utf8_lossy(value).into_owned())));
        }
    }
    Ok(None)
}

/// (name, path) of every entry; `None` when the data is not a cache.
fn entries(data: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let u32_at = |at: usize| Some(u32::from_ne_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize);
    // The old format: 12-byte entries, strings after them; glibc writes the
    // new format after the old one's entries, or alone.
    let (start, entry_size, strings) = if data.starts_with(NEW) {
        (NEW.len() + 4 + 24, 24, 0)
    } else if data.starts_with(OLD) {
        let n = u32_at(OLD.len())?;
        (OLD.len() + 4, 12, OLD.len() + 4 + n.checked_mul(12)?)
    } else {
        return None;
    };
    let count = u32_at(if data.starts_with(NEW) { NEW.len() } else { OLD.len() })?;
    let string = |pos: usize| {
        let rest = data.get(strings.checked_add(pos)?..)?;
        Some(&rest[..rest.iter().position(|b| *b == 0)?])
    };
    (0..count)
        .map(|i| {
            let at = start.checked_add(i.checked_mul(entry_size)?)?;
            Some((string(u32_at(at + 4)?)?, string(u32_at(at + 8)?)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn libc_is_found_by_name_and_a_made_up_library_is_not() {
        let libc = super::find("libc").unwrap().expect("libc in the cache");
        assert!(libc.file_name().unwrap().to_str().unwrap().starts_with("libc.so"), "{}", libc.display());
        assert_eq!(super::find("libntr_no_such_library").unwrap(), None);
    }
}
