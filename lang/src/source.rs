//! Source files and spans. Every file a run reads (the script, `use`d
//! modules, `-e` text, REPL lines) gets a `FileId` in one `Sources`.

use codespan_reporting::files::SimpleFiles;

pub type FileId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span { file, start: start as u32, end: end as u32 }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// All source text of a run, owned in one place so diagnostics can quote it.
#[derive(Default)]
pub struct Sources {
    pub files: SimpleFiles<String, String>,
}

impl Sources {
    pub fn new() -> Sources {
        Sources::default()
    }

    /// Add a file's text; a UTF-8 byte order mark at its start is not part
    /// of the script.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let mut text = text.into();
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        self.files.add(name.into(), text)
    }

    pub fn text(&self, file: FileId) -> &str {
        self.files.get(file).map(|f| f.source().as_str()).unwrap_or("")
    }

    pub fn name(&self, file: FileId) -> &str {
        self.files.get(file).map(|f| f.name().as_str()).unwrap_or("?")
    }
}

/// Scripts and modules larger than this are refused, not read whole (a
/// `use "/dev/zero"` would otherwise grow without end).
pub const MAX_SCRIPT_BYTES: u64 = 4 << 20;

/// The text of a script or module file: a regular file, at most
/// `MAX_SCRIPT_BYTES`, UTF-8.
pub fn read_script_file(path: &std::path::Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    read_script(std::fs::File::open(path).map_err(|e| e.to_string())?)
}

/// At most `MAX_SCRIPT_BYTES` of UTF-8 text from `input` (a file, stdin).
pub fn read_script(input: impl std::io::Read) -> Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    input.take(MAX_SCRIPT_BYTES + 1).read_to_string(&mut text).map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(format!("larger than {} MiB: not a script", MAX_SCRIPT_BYTES >> 20));
    }
    Ok(text)
}
