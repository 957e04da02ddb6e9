//! `cat(FMT, args…)`: a file's contents, read when its event is printed
//! (as bpftrace's `cat`), at most `MAX` bytes.

use std::io::{Read, Write};

use ntr_lang::kernel::errno;
use ntr_lang::visible;
use serde_json::json;

/// The most bytes of a file one `cat` prints.
pub const MAX: usize = 64 * 1024;

/// The first `MAX` bytes of the file at `path` as text, and whether there
/// was more; the error in words when it cannot be read.
fn read(path: &str) -> Result<(String, bool), String> {
    let file = std::fs::File::open(path).map_err(|e| errno::describe(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX as u64 + 1).read_to_end(&mut bytes).map_err(|e| errno::describe(&e))?;
    let more = bytes.len() > MAX;
    bytes.truncate(MAX);
    Ok((String::from_utf8_lossy(&bytes).into_owned(), more))
}

/// Print the file at `path`: its text (control characters escaped but
/// newlines and tabs, ending with a newline), or a line saying why it could
/// not be read; with `json`, one object.
pub fn print(path: &str, json: bool, out: &mut dyn Write) -> std::io::Result<()> {
    match (read(path), json) {
        (Ok((text, more)), true) => writeln!(out, "{}", json!({"type": "cat", "path": path, "text": text, "truncated": more})),
        (Err(why), true) => writeln!(out, "{}", json!({"type": "cat", "path": path, "error": why})),
        (Ok((text, more)), false) => {
            let shown = visible::escape(&text, &['\n', '\t']);
            write!(out, "{shown}")?;
            if !shown.is_empty() && !shown.ends_with('\n') {
                writeln!(out)?;
            }
            if more {
                writeln!(out, "cat: {}: only its first {MAX} bytes shown", visible::escape(path, &[]))?;
            }
            Ok(())
        }
        (Err(why), false) => writeln!(out, "cat: {}: {why}", visible::escape(path, &[])),
    }
}
