//! Function symbols of a user-space executable or library, so a uprobe that
//! cannot attach is refused at check time with the reason (a file that is
//! not ELF, a function no symbol table holds, an offset past the function's
//! end), and an attach that still fails says the same.
//!
//! The tables searched are those the attach searches (aya): `.dynsym`, then
//! `.symtab`, then the file its `.gnu_debuglink` names, next to it.
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSymbol, SymbolKind};

/// Why a uprobe cannot attach to a function of a file, in words for a
/// diagnostic: `message` names the file and the function, `label` goes
/// under the probe, `note` lists the tables searched, `help` says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub label: &'static str,
    pub note: Option<String>,
    pub help: Option<String>,
}

/// The functions of one ELF file (and of its debug file), with their sizes.
struct Functions {
    /// (name, size in bytes; 0 when the table does not say).
    functions: Vec<(String, u64)>,
    /// The tables read, in words: ".dynsym", ".symtab", "`/x/y.debug` (its .gnu_debuglink)".
    searched: Vec<String>,
    /// Functions the file calls in libraries (undefined in `.dynsym`).
    imported: Vec<String>,
    /// Tables the file lacks that would usually hold functions.
    missing: Vec<&'static str>,
}

/// The names of the functions the file at `path` defines (`.dynsym` and
/// `.symtab`), for uprobe wildcards.
pub fn function_names(path: &Path) -> Result<Vec<String>, Refusal> {
    let bytes = std::fs::read(path).map_err(|e| Refusal {
        message: format!("cannot read `{}`: {}", path.display(), super::errno::describe(&e)),
        label: "cannot attach here",
        note: None,
        help: None,
    })?;
    let file = object::File::parse(&*bytes).map_err(|_| not_elf(path, &bytes))?;
    let mut names: Vec<String> = functions(&file).functions.into_iter().map(|(n, _)| n).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The link-time address (`st_value`) of function or object `symbol` in
/// the file at `path` (`.symtab`, else `.dynsym`).
pub fn symbol_value(path: &Path, symbol: &str) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let file = object::File::parse(&*bytes).ok()?;
    let name = |s: &object::Symbol| s.name().ok().map(|n| n.split('@').next().unwrap_or(n).to_string());
    file.symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.is_definition() && matches!(s.kind(), SymbolKind::Text | SymbolKind::Data))
        .find(|s| name(s).as_deref() == Some(symbol))
        .map(|s| s.address())
}

/// Whether `symbol + offset` is a place a uprobe can attach to in the file
/// at `path`.
pub fn check_uprobe(path: &Path, symbol: &str, offset: u64) -> Result<(), Refusal> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| Refusal {
        message: format!("cannot read `{shown}`: {}", super::errno::describe(&e)),
        label: "cannot attach here",
        note: None,
        help: Some("give the path of an executable or a library that ntr can read".into()),
    })?;
    let file = object::File::parse(&*bytes).map_err(|_| not_elf(path, &bytes))?;
    let mut found = functions(&file);
    let mut debug_problem = None;
    if !found.has(symbol) {
        if let Some(debug) = debuglink(&file, path) {
            match std::fs::read(&debug) {
                Ok(debug_bytes) => match object::File::parse(&*debug_bytes) {
                    Ok(debug_file) => {
                        let more = functions(&debug_file);
                        found.functions.extend(more.functions);
                        found.searched.push(format!("`{}` (its .gnu_debuglink)", debug.display()));
                    }
                    Err(_) => debug_problem = Some(format!("its .gnu_debuglink names `{}`, which is not ELF", debug.display())),
                },
                Err(e) => {
                    debug_problem =
                        Some(format!("its .gnu_debuglink names `{}`, which cannot be read: {}", debug.display(), super::errno::describe(&e)))
                }
            }
        }
    }
    let size = found.functions.iter().filter(|(n, _)| n == symbol).map(|(_, s)| *s).max();
    match size {
        None => {
            let names: Vec<String> = found.functions.iter().map(|(n, _)| n.clone()).collect();
            let near = crate::check::near_misses(symbol, &names);
            let mut notes = Vec::new();
            if !found.searched.is_empty() {
                notes.push(format!("looked in {}", join(&found.searched)));
            }
            if !found.missing.is_empty() {
                notes.push(format!("the file has no {} (stripped)", found.missing.join(" or ")));
            }
            notes.extend(debug_problem);
            let note = notes.join("; ");
            let help = if !near.is_empty() {
                Some(format!("did you mean {}?", crate::check::quote_list(&near)))
            } else if found.imported.iter().any(|n| n == symbol) {
                Some(format!("`{symbol}` is only imported by this file: probe it in the library that defines it (`ldd {shown}` lists them)"))
            } else if found.missing.contains(&".symtab") {
                Some("a stripped file keeps only the functions it exports (.dynsym): probe an unstripped build of it".into())
            } else {
                None
            };
            Err(Refusal { message: format!("no function `{symbol}` in `{shown}`"), label: "not in its symbol tables", note: Some(note), help })
        }
        Some(size) if size > 0 && offset >= size => Err(Refusal {
            message: format!("offset {offset:#x} is past the end of `{symbol}` in `{shown}`, which is {size} ({size:#x}) bytes long"),
            label: "outside the function",
            note: None,
            help: Some(format!("give an offset below {size:#x}, at the start of an instruction (`objdump -d {shown}` shows them)")),
        }),
        Some(_) if offset > 0 => match instruction_starts(&file, symbol) {
            // A breakpoint inside an instruction corrupts it: the traced
            // program would crash or compute garbage.
            Some(starts) if !starts.contains(&offset) => {
                let before = starts.iter().copied().filter(|s| *s < offset).max().unwrap_or(0);
                let after = starts.iter().copied().find(|s| *s > offset);
                let around = match after {
                    Some(a) => format!("{before:#x} and {a:#x}"),
                    None => format!("{before:#x} and the end"),
                };
                Err(Refusal {
                    message: format!("offset {offset:#x} is inside an instruction of `{symbol}` in `{shown}`"),
                    label: "not the start of an instruction",
                    note: Some(format!("instructions of `{symbol}` start at {around}; a uprobe there would overwrite part of one")),
                    help: Some(format!("give the offset of an instruction's start, e.g. `{symbol}+{before:#x}` (`objdump -d {shown}` shows them)")),
                })
            }
            _ => Ok(()),
        },
        Some(_) => Ok(()),
    }
}

/// Offsets from the start of function `symbol` at which its instructions
/// start, for x86-64 code the file itself holds (`None` otherwise: other
/// architectures, or a function described only by a debug file).
fn instruction_starts(file: &object::File, symbol: &str) -> Option<Vec<u64>> {
    use object::ObjectSection;
    if file.architecture() != object::Architecture::X86_64 {
        return None;
    }
    let sym = file
        .dynamic_symbols()
        .chain(file.symbols())
        .find(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.size() > 0 && s.name().is_ok_and(|n| n.split('@').next() == Some(symbol)))?;
    let section = file.section_by_index(sym.section_index()?).ok()?;
    let data = section.data().ok()?;
    let start = usize::try_from(sym.address().checked_sub(section.address())?).ok()?;
    let code = data.get(start..start.checked_add(usize::try_from(sym.size()).ok()?)?)?;
    let mut decoder = iced_x86::Decoder::with_ip(64, code, 0, iced_x86::DecoderOptions::NONE);
    let mut starts = Vec::new();
    while decoder.can_decode() {
        starts.push(decoder.position() as u64);
        // Only its length matters: the decoder moves past it.
        let _ = decoder.decode();
    }
    Some(starts)
}

impl Functions {
    fn has(&self, symbol: &str) -> bool {
        self.functions.iter().any(|(n, _)| n == symbol)
    }
}

fn functions(file: &object::File) -> Functions {
    let mut searched = Vec::new();
    let mut missing = Vec::new();
    for table in [".dynsym", ".symtab"] {
        if file.section_by_name(table).is_some() {
            searched.push(table.to_string());
        } else {
            missing.push(table);
        }
    }
    let name = |s: &object::Symbol| s.name().ok().map(|n| n.split('@').next().unwrap_or(n).to_string());
    let functions = file
        .dynamic_symbols()
        .chain(file.symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition())
        .filter_map(|s| Some((name(&s)?, s.size())))
        .collect();
    let imported = file.dynamic_symbols().filter(|s| s.is_undefined()).filter_map(|s| name(&s)).collect();
    Functions { functions, searched, imported, missing }
}

/// The debug file named by `.gnu_debuglink`, relative to the file's own
/// directory, as the attach looks for it.
fn debuglink(file: &object::File, path: &Path) -> Option<PathBuf> {
    let (name, _) = file.gnu_debuglink().ok()??;
    let name = Path::new(std::ffi::OsStr::from_bytes(name));
    Some(if name.is_relative() { path.parent().map(|p| p.join(name)).unwrap_or_else(|| name.to_path_buf()) } else { name.to_path_buf() })
}

/// A refusal for a file that is not ELF, saying what it looks like.
fn not_elf(path: &Path, bytes: &[u8]) -> Refusal {
    let what = if bytes.is_empty() {
        "it is empty".to_string()
    } else if let Some(line) = bytes.strip_prefix(b"#!") {
        let interp = String::from_utf8_lossy(line.split(|b| *b == b'\n').next().unwrap_or_default());
        format!("it is a script run by `{}`", interp.trim())
    } else if bytes.starts_with(b"\x7fELF") {
        "its ELF headers are damaged".to_string()
    } else {
        "it does not start with the ELF magic number".to_string()
    };
    let help = if bytes.starts_with(b"#!") {
        "probe the interpreter's functions instead, e.g. `uprobe:/bin/bash:FUNCTION`"
    } else {
        "uprobes attach to executables and shared libraries in ELF format"
    };
    Refusal { message: format!("`{}` is not an ELF file: {what}", path.display()), label: "cannot attach here", note: None, help: Some(help.into()) }
}

fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
