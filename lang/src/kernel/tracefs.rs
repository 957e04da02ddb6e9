//! tracefs: where it is (mounting it when it is not), the tracepoint
//! categories, and the classic record formats.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::FormatField;

const MOUNT_POINT: &str = "/sys/kernel/tracing";

/// The tracefs root, mounting tracefs at /sys/kernel/tracing when it is not
/// mounted anywhere. Decided once per process.
pub fn root() -> Result<PathBuf, String> {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOT.get_or_init(find_or_mount).clone()
}

fn find_or_mount() -> Result<PathBuf, String> {
    for dir in [MOUNT_POINT, "/sys/kernel/debug/tracing"] {
        if Path::new(dir).join("events").is_dir() {
            return Ok(PathBuf::from(dir));
        }
    }
    let target = std::ffi::CString::new(MOUNT_POINT).expect("no NUL in path");
    let fstype = std::ffi::CString::new("tracefs").expect("no NUL");
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe { libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        let hint = if err.raw_os_error() == Some(libc::EPERM) { " (ntr must run as root)" } else { "" };
        return Err(format!("tracefs is not mounted and mounting it at {MOUNT_POINT} failed: {err}{hint}"));
    }
    Ok(PathBuf::from(MOUNT_POINT))
}

/// Categories that have an event called `name`, from one reading of
/// `available_events` per process (a directory walk cost a `stat` per
/// category for every name looked up).
pub fn categories_of(root: &Path, name: &str) -> Vec<String> {
    static BY_NAME: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    let index = BY_NAME.get_or_init(|| {
        let mut index: HashMap<String, Vec<String>> = HashMap::new();
        for event in events(root) {
            if let Some((category, name)) = event.split_once(':') {
                index.entry(name.to_string()).or_default().push(category.to_string());
            }
        }
        for categories in index.values_mut() {
            categories.sort();
            categories.dedup();
        }
        index
    });
    index.get(name).cloned().unwrap_or_default()
}

/// Every event as `category:name`.
pub fn events(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("available_events")).map(|t| t.lines().map(str::to_string).collect()).unwrap_or_default()
}

/// Parse an event's `format` file into its fields (common ones included).
pub fn format(root: &Path, category: &str, name: &str) -> Option<Vec<FormatField>> {
    let text = std::fs::read_to_string(root.join("events").join(category).join(name).join("format")).ok()?;
    Some(parse_format(&text))
}

pub fn parse_format(text: &str) -> Vec<FormatField> {
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else { continue };
        let mut decl = "";
        let mut offset = None;
        let mut size = None;
        let mut signed = false;
        for part in rest.split(';').map(str::trim) {
            if let Some(v) = part.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = part.strip_prefix("size:") {
                size = v.parse().ok();
            } else if let Some(v) = part.strip_prefix("signed:") {
                signed = v == "1";
            } else if decl.is_empty() {
                decl = part;
            }
        }
        let (Some(offset), Some(size)) = (offset, size) else { continue };
        let data_loc = decl.starts_with("__data_loc");
        let last = decl.rsplit([' ', '*']).next().unwrap_or("");
        let name = last.split('[').next().unwrap_or("").to_string();
        fields.push(FormatField { name, decl: decl.to_string(), offset, size, signed, data_loc, ty: None });
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_format_file() {
        let text = "name: kfree_skb\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:enum skb_drop_reason reason;\toffset:28;\tsize:4;\tsigned:0;\n\tfield:__data_loc char[] filename;\toffset:32;\tsize:4;\tsigned:0;\n\tfield:u8 saddr[4];\toffset:36;\tsize:4;\tsigned:0;\n";
        let f = parse_format(text);
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["common_type", "skbaddr", "reason", "filename", "saddr"]);
        assert_eq!((f[1].offset, f[1].size), (8, 8));
        assert!(f[3].data_loc && !f[2].data_loc);
        assert_eq!(f[4].decl, "u8 saddr[4]");
    }
}
