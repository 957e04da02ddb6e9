//! The one-way pipeline behind every command: locate the script, parse it
//! and its modules, check it against this kernel, compile, run.

use std::io::Write;
use std::path::{Path, PathBuf};

use ntr_compiler::artifact::Artifact;
use ntr_lang::check::{self, CheckOptions};
use ntr_lang::diag::Diagnostic;
use ntr_lang::kernel::btf::KernelBtf;
use ntr_lang::source::Sources;
use ntr_lang::syntax::modules;
use ntr_lang::tir;

use crate::report;

/// Where a script's text comes from.
pub enum Script {
    File(PathBuf),
    Stdlib(String),
    Inline(String),
    /// `-`: the script read from standard input.
    Stdin(String),
}

/// `ntr run X`: a file if one exists at X, else a stdlib script named X.
pub fn locate(arg: &str) -> Result<Script, Diagnostic> {
    if arg == "-" {
        let text = ntr_lang::source::read_script(std::io::stdin().lock())
            .map_err(|e| Diagnostic::global(format!("cannot read the script from standard input: {e}")))?;
        return Ok(Script::Stdin(text));
    }
    let path = Path::new(arg);
    if path.is_file() {
        return Ok(Script::File(path.to_path_buf()));
    }
    if ntr_stdlib::get(arg).is_some() {
        return Ok(Script::Stdlib(arg.to_string()));
    }
    let names: Vec<String> = ntr_stdlib::scripts().map(|(n, _)| n.to_string()).collect();
    let d = Diagnostic::global(format!("no script file or stdlib script named `{arg}`"));
    Err(if names.is_empty() { d } else { d.with_note(format!("stdlib scripts: {}", names.join(", "))) })
}

/// A script checked against this kernel.
pub struct Checked {
    pub sources: Sources,
    pub program: tir::Program,
}

/// Failures carry the exit code they map to.
pub struct Failure {
    pub sources: Sources,
    pub diags: Vec<Diagnostic>,
    pub code: u8,
}

impl Failure {
    pub fn report(&self) -> u8 {
        report::diagnostics(&self.sources, &self.diags);
        self.code
    }
}

fn read(script: &Script, sources: &mut Sources) -> Result<(usize, Option<PathBuf>), Diagnostic> {
    match script {
        Script::File(path) => {
            let text = ntr_lang::source::read_script_file(path).map_err(|e| Diagnostic::global(format!("cannot read `{}`: {e}", path.display())))?;
            // Modules are found next to the file itself, not a symlink to it.
            let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            let base = real.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p }).map(Path::to_path_buf);
            Ok((sources.add(path.display().to_string(), text), base))
        }
        Script::Stdlib(name) => {
            let text = ntr_stdlib::get(name).unwrap_or_default();
            Ok((sources.add(format!("<stdlib>/{name}.ntr"), text), None))
        }
        Script::Inline(text) => Ok((sources.add("<program>", text.clone()), None)),
        Script::Stdin(text) => Ok((sources.add("<stdin>", text.clone()), None)),
    }
}

/// Which attach methods the checker may use: this kernel's, or any (an
/// object compiled to be loaded elsewhere, typed by this kernel's BTF or
/// by another's, `ntr compile --btf FILE`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    ThisKernel,
    AnyKernel(Option<&'a Path>),
}

/// Every attach method, for `ntr compile`: the object is not loaded here.
struct AnyKernel;

impl ntr_lang::kernel::AttachSupport for AnyKernel {
    fn kprobe(&self) -> Result<(), String> {
        Ok(())
    }
    fn fentry(&self) -> Result<(), String> {
        Ok(())
    }
}

/// `cpid`: the pid of the `-c` command, for the `cpid` builtin; `snaplen`:
/// what `pcap()` statements capture (`None` leaves them out).
pub fn front(script: &Script, params: &[(String, String)], target: Target<'_>, cpid: Option<u32>, snaplen: Option<u16>) -> Result<Checked, Failure> {
    let mut sources = Sources::new();
    let fail = |sources, diags, code| Failure { sources, diags, code };
    let (root, base) = match read(script, &mut sources) {
        Ok(r) => r,
        Err(d) => return Err(fail(sources, vec![d], 2)),
    };
    let loaded = match modules::load(&mut sources, root, base.as_deref()) {
        Ok(m) => m,
        Err(d) => return Err(fail(sources, vec![d], 2)),
    };
    let kernel = match target {
        Target::AnyKernel(Some(path)) => KernelBtf::from_foreign_file(path).map_err(|e| {
            Diagnostic::global(format!("cannot read the BTF of `{}`: {e}", path.display()))
                .with_help("give a kernel's BTF as raw BTF (another machine's /sys/kernel/btf/vmlinux, copied)")
        }),
        _ => KernelBtf::from_sys().map_err(|e| {
            Diagnostic::global(format!("cannot read this kernel's types: {e}"))
                .with_help("ntr needs a kernel with BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y)")
        }),
    };
    let kernel = match kernel {
        Ok(k) => k,
        Err(d) => return Err(fail(sources, vec![d], 1)),
    };
    let features = ntr_runtime::features::Features::default();
    let attach: &dyn ntr_lang::kernel::AttachSupport = if target == Target::ThisKernel { &features } else { &AnyKernel };
    let scripts: Vec<&ntr_lang::ast::Script> = loaded.iter().map(|m| &m.script).collect();
    let checked = check::check(&scripts, &kernel, &CheckOptions { params, attach, host: Some(&ntr_runtime::netns::Namespaces), cpid, snaplen });
    match checked {
        Ok(program) => {
            report::notes(&sources, &program.skipped);
            report::diagnostics(&sources, &program.warnings);
            Ok(Checked { sources, program })
        }
        Err(diags) => Err(fail(sources, diags, 2)),
    }
}

fn build(
    script: &Script,
    params: &[(String, String)],
    target: Target<'_>,
    cpid: Option<u32>,
    snaplen: Option<u16>,
) -> Result<(Checked, Artifact), Failure> {
    let checked = front(script, params, target, cpid, snaplen)?;
    match ntr_compiler::compile(&checked.program) {
        Ok(a) => Ok((checked, a)),
        Err(e) => Err(Failure { diags: vec![e.to_diagnostic()], sources: checked.sources, code: 2 }),
    }
}

/// What `ntr run` and `ntr -e` ask for, as the command line gave it.
pub struct RunRequest {
    pub params: Vec<(String, String)>,
    /// `-c CMD`: forked before the script is compiled, so `cpid` is known.
    pub command: Option<String>,
    /// What `pcap()` statements capture; `None`: there is no capture file.
    pub snaplen: Option<u16>,
    /// The runtime's options; the pipeline adds the command, and its pid
    /// as the one process uprobes fire in (unless `--pid` gave one).
    pub options: ntr_runtime::RunOptions,
}

pub fn run(script: Script, request: RunRequest) -> u8 {
    let RunRequest { params, command, snaplen, mut options } = request;
    // Forked first, so its pid is known to the script; it execs once the
    // probes are attached (and never, if anything fails before).
    let command = match command.as_deref().map(ntr_runtime::command::HeldCommand::fork).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: -c: {e}");
            return 1;
        }
    };
    let cpid = command.as_ref().map(|c| c.pid());
    let (checked, artifact) = match build(&script, &params, Target::ThisKernel, cpid, snaplen) {
        Ok(b) => b,
        Err(f) => return f.report(),
    };
    // The stdlib scripts' help says what --pcap adds; a script of the
    // user's own that captures is told.
    if checked.program.pcap_left_out && !matches!(script, Script::Stdlib(_)) {
        eprintln!("ntr: pcap() writes nothing: no --pcap FILE given");
    }
    if options.metrics.is_some() {
        report::diagnostics(&checked.sources, &unexported(&artifact));
    }
    options.pid = options.pid.or(cpid.and_then(std::num::NonZeroU32::new));
    options.command = command;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = ntr_runtime::run(&artifact, &options, &mut out);
    let _ = out.flush();
    match result {
        Ok(_) => 0,
        Err(e) => report::runtime_error(&checked.sources, &artifact, &e, options.verbose),
    }
}

/// Warnings for the maps `--metrics` leaves out, at their first use.
fn unexported(artifact: &Artifact) -> Vec<Diagnostic> {
    use ntr_runtime::metrics;
    let why = |m: &ntr_compiler::artifact::MapInfo| metrics::kind(m).err();
    let name = |m: &ntr_compiler::artifact::MapInfo| if m.name.is_empty() { "@".to_string() } else { format!("@{}", m.name) };
    artifact
        .maps
        .iter()
        .filter_map(|m| Some(Diagnostic::warning(format!("{} is not exported to /metrics: {}", name(m), why(m)?), m.span, "not exported")))
        .collect()
}

pub fn check(script: Script, params: &[(String, String)]) -> u8 {
    match build(&script, params, Target::ThisKernel, None, Some(ntr_runtime::pcap::DEFAULT_SNAPLEN)) {
        Ok((checked, artifact)) => {
            let probes = &checked.program.probes;
            // Each probe point once, in order, with how many blocks it has.
            let mut points: Vec<(&str, usize)> = Vec::new();
            let mut at = std::collections::HashMap::new();
            for p in probes {
                let i = *at.entry(p.name.as_str()).or_insert_with(|| {
                    points.push((p.name.as_str(), 0));
                    points.len() - 1
                });
                points[i].1 += 1;
            }
            let named: Vec<String> = points.iter().map(|(name, n)| if *n == 1 { name.to_string() } else { format!("{name} ×{n}") }).collect();
            let insns: usize = artifact.programs.iter().map(|p| p.insns.len()).sum();
            println!(
                "ok: {} probe{} ({}), {} maps, {insns} instructions",
                probes.len(),
                if probes.len() == 1 { "" } else { "s" },
                named.join(", "),
                artifact.maps.len()
            );
            // A library named by its name: the file the dynamic linker's
            // cache gives, as the uprobe attaches to it.
            let mut libraries: Vec<&str> = Vec::new();
            for p in probes {
                if let ntr_lang::tir::Attach::Uprobe { path, .. } = &p.attach {
                    if !path.contains('/') && !libraries.contains(&path.as_str()) {
                        libraries.push(path);
                        if let Ok(Some(file)) = ntr_lang::kernel::ld_cache::find(path) {
                            println!("  {path}: {} (from {})", file.display(), ntr_lang::kernel::ld_cache::PATH);
                        }
                    }
                }
            }
            0
        }
        Err(f) => f.report(),
    }
}

/// `btf`: another kernel's BTF to compile against (`--btf FILE`).
pub fn compile(script: Script, params: &[(String, String)], output: Option<&Path>, dump: bool, btf: Option<&Path>) -> u8 {
    // The object may be loaded on another kernel: any attach method goes.
    let (checked, artifact) = match build(&script, params, Target::AnyKernel(btf), None, Some(ntr_runtime::pcap::DEFAULT_SNAPLEN)) {
        Ok(b) => b,
        Err(f) => return f.report(),
    };
    if dump {
        print!("{}", report::dump(&checked.sources, &artifact));
    }
    if let Some(path) = output {
        if let Err(e) = std::fs::write(path, &artifact.elf) {
            eprintln!("ntr: cannot write `{}`: {e}", path.display());
            return 1;
        }
    } else if !dump {
        eprintln!("ntr: compiled {} bytes of BPF object; give `-o OUT.o` to write it or `--dump` to see it", artifact.elf.len());
    }
    0
}

/// `ntr help NAME`: a script's `##` help.
pub fn help(name: &str) -> u8 {
    // As `ntr run` finds scripts: a file if one exists, else the stdlib's.
    let (shown, text) = if Path::new(name).is_file() {
        match ntr_lang::source::read_script_file(Path::new(name)) {
            Ok(text) => (name.to_string(), text),
            Err(e) => return report::global(&Diagnostic::global(format!("cannot read `{name}`: {e}"))),
        }
    } else if let Some(text) = ntr_stdlib::get(name) {
        (name.to_string(), text.to_string())
    } else {
        return report::global(
            &Diagnostic::global(format!("no script file or stdlib script named `{name}`")).with_note("`ntr list scripts` lists the stdlib scripts"),
        );
    };
    match script_doc(&text) {
        Some(doc) => println!("{doc}"),
        None => println!("{shown}: no help text (a script's help is the `##` lines at its top)"),
    }
    0
}

/// A script's help: the `##` lines at its top (read even when the rest of
/// the script does not parse).
pub fn script_doc(text: &str) -> Option<String> {
    ntr_lang::syntax::lexer::doc_comment(text)
}

/// The `param`s a script and the modules it uses declare: (name, type as
/// written), for completing `-p`.
pub fn declared_params(script: &Script) -> Result<Vec<(String, String)>, Diagnostic> {
    use ntr_lang::ast::{Item, TypeNameKind};
    let mut sources = Sources::new();
    let (root, base) = read(script, &mut sources)?;
    let loaded = modules::load(&mut sources, root, base.as_deref())?;
    let params = loaded.iter().flat_map(|m| &m.script.items).filter_map(|item| match item {
        Item::Param(p) => Some((
            p.name.name.clone(),
            match &p.ty.kind {
                TypeNameKind::Named(n) => n.clone(),
                TypeNameKind::Enum(n) => format!("enum {n}"),
                TypeNameKind::EnumSet(n) => format!("enum {n}[]"),
                TypeNameKind::StructPtr(n) => format!("struct {n} *"),
            },
        )),
        _ => None,
    });
    Ok(params.collect())
}
