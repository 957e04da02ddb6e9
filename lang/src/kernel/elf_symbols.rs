//! Function symbols of a user-space executable or library, so a uprobe on a
//! symbol the file lacks is refused at check time, with near misses,
//! instead of failing to attach.

use object::{Object, ObjectSymbol, SymbolKind};

/// The names of the functions in the ELF file at `path` (`.symtab` and
/// `.dynsym`); `None` when it cannot be read as an ELF object.
pub fn functions(path: &str) -> Option<Vec<String>> {
    let bytes = std::fs::read(path).ok()?;
    let file = object::File::parse(&*bytes).ok()?;
    let mut names: Vec<String> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition())
        .filter_map(|s| s.name().ok().map(|n| n.split('@').next().unwrap_or(n).to_string()))
        .collect();
    names.sort();
    names.dedup();
    Some(names)
}
