//! `use`: loading the modules a script uses, transitively, each once, in
//! dependency order.

use std::path::{Path, PathBuf};

use crate::ast::{Item, Script, UseTarget};
use crate::diag::Diagnostic;
use crate::source::{FileId, Sources, Span};

pub struct Module {
    pub file: FileId,
    /// The stdlib name, the path, or `<program>`.
    pub name: String,
    pub script: Script,
}

/// Parse `root` and every module it uses: `use NAME` is the stdlib module
/// NAME, `use "path.ntr"` a file relative to the using file's directory
/// (`base_dir` for the root, the current directory when `None`). Returns
/// the modules in dependency order, root last.
pub fn load(sources: &mut Sources, root: FileId, base_dir: Option<&Path>) -> Result<Vec<Module>, Diagnostic> {
    let mut loader = Loader { done: Vec::new(), stack: Vec::new() };
    let name = sources.name(root).to_string();
    loader.visit(sources, root, name, base_dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")))?;
    Ok(loader.done)
}

struct Loader {
    done: Vec<Module>,
    /// Modules being loaded (for cycle detection), by name.
    stack: Vec<String>,
}

impl Loader {
    fn visit(&mut self, sources: &mut Sources, file: FileId, name: String, dir: PathBuf) -> Result<(), Diagnostic> {
        let script = super::parse(sources, file)?;
        self.stack.push(name.clone());
        for item in &script.items {
            let Item::Use(u) = item else { continue };
            let (dep_name, text, dep_dir) = self.resolve(&u.target, &dir, u.span)?;
            if self.done.iter().any(|m| m.name == dep_name) {
                continue;
            }
            if self.stack.contains(&dep_name) {
                return Err(Diagnostic::error(format!("`use` cycle: `{dep_name}` is already being loaded"), u.span, "closes the cycle")
                    .with_note(format!("chain: {} → {dep_name}", self.stack.join(" → "))));
            }
            let dep = sources.add(dep_name.clone(), text);
            self.visit(sources, dep, dep_name, dep_dir)?;
        }
        self.stack.pop();
        self.done.push(Module { file, name, script });
        Ok(())
    }

    fn resolve(&self, target: &UseTarget, dir: &Path, span: Span) -> Result<(String, String, PathBuf), Diagnostic> {
        match target {
            UseTarget::Module(m) => match ntr_stdlib::get(m) {
                Some(text) => Ok((format!("<stdlib>/{m}.ntr"), text.to_string(), dir.to_path_buf())),
                None => {
                    let names: Vec<String> = ntr_stdlib::names().map(String::from).collect();
                    let near = crate::check::near_misses(m, &names);
                    let d = Diagnostic::error(format!("no stdlib module named `{m}`"), span, "unknown module");
                    Err(if near.is_empty() {
                        d.with_note(format!("stdlib modules: {}", names.join(", ")))
                    } else {
                        d.with_help(format!("did you mean `{}`?", near[0]))
                    })
                }
            },
            UseTarget::File(f) => {
                // One module per file, however it is spelled (`./a.ntr`,
                // `../x/a.ntr`, a symlink), and its own `use`s resolved from
                // where the file really is.
                let path = dir.join(f);
                let fail = |e: String| Diagnostic::error(format!("cannot read `{}`: {e}", path.display()), span, "used here");
                let real = std::fs::canonicalize(&path).map_err(|e| fail(e.to_string()))?;
                let text = crate::source::read_script_file(&real).map_err(fail)?;
                let parent = real.parent().map(Path::to_path_buf).unwrap_or_else(|| dir.to_path_buf());
                Ok((real.display().to_string(), text, parent))
            }
        }
    }
}
