//! The stdlib: `.ntr` scripts and modules embedded in the binary.

/// (name, source) of every embedded script and module.
const SCRIPTS: &[(&str, &str)] = &[];

/// The source of a stdlib script or module by name.
pub fn get(name: &str) -> Option<&'static str> {
    SCRIPTS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Names of all stdlib scripts and modules.
pub fn names() -> impl Iterator<Item = &'static str> {
    SCRIPTS.iter().map(|(n, _)| *n)
}
