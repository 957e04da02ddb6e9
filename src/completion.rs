//! Shell completion computed by ntr itself when the shell asks (clap_complete's
//! dynamic completion): the shell code printed by `ntr completions SHELL`
//! calls `COMPLETE=SHELL ntr -- WORDS…` on each Tab, and ntr answers with
//! the stdlib script names, `.ntr` files, and the `param`s the script (or
//! `-e` program) being run declares (`ntr run dropwatch -p <TAB>` → `port=`, `dport=`, …).

use std::ffi::{OsStr, OsString};
use std::sync::Arc;

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate, PathCompleter, ValueCompleter};
use clap_complete::env::Shells;
use clap_complete::CompleteEnv;

use crate::cli::Cli;
use crate::pipeline::{self, Script};

/// The environment variable the shell code sets when it asks for candidates.
const VAR: &str = "COMPLETE";

/// If the shell is asking for candidates, print them and exit; otherwise
/// return and let ntr run.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(command).var(VAR).complete();
}

/// `ntr completions SHELL`: the shell code that asks this ntr binary.
pub fn registration(shell: clap_complete::Shell) -> u8 {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let Some(completer) = shells.completer(&name) else {
        eprintln!("ntr: no dynamic completion for {name}");
        return 1;
    };
    let exe = std::env::current_exe().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| "ntr".into());
    match completer.write_registration(VAR, "ntr", "ntr", &exe, &mut std::io::stdout()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ntr: cannot write the completion script: {e}");
            1
        }
    }
}

/// The command line as clap knows it, with completers for script names and,
/// once the words being completed name a script (or give `-e PROGRAM`), for
/// its parameters.
fn command() -> clap::Command {
    let script = Arc::new(script_being_completed());
    let params_of = |script: &Arc<Option<Script>>| {
        let script = Arc::clone(script);
        ArgValueCompleter::new(move |current: &OsStr| params(script.as_ref().as_ref(), current))
    };
    let mut cmd = Cli::command().mut_arg("params", |a| a.add(params_of(&script)));
    for sub in ["run", "check", "compile"] {
        cmd = cmd.mut_subcommand(sub, |c| {
            c.mut_arg("script", |a| a.add(ArgValueCompleter::new(scripts))).mut_arg("params", |a| a.add(params_of(&script)))
        });
    }
    cmd.mut_subcommand("help", |c| c.mut_arg("name", |a| a.add(ArgValueCompleter::new(scripts))))
}

/// The script named by the words before the one being completed, parsed by
/// clap itself (errors ignored: the line is unfinished). Standard input
/// (`-`) is not read.
fn script_being_completed() -> Option<Script> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let words = &args[args.iter().position(|a| a == "--")? + 1..];
    // bash, zsh and elvish say which word is completed; fish completes the last.
    let index = std::env::var("_CLAP_COMPLETE_INDEX").ok().and_then(|i| i.parse::<usize>().ok()).unwrap_or(words.len().saturating_sub(1));
    let before = &words[..index.min(words.len())];
    let matches = Cli::command().ignore_errors(true).try_get_matches_from(before).ok()?;
    match matches.subcommand() {
        Some((_, sub)) => {
            let name = sub.try_get_one::<String>("script").ok().flatten().filter(|s| *s != "-")?;
            pipeline::locate(name).ok()
        }
        None => matches.try_get_one::<String>("program").ok().flatten().map(|text| Script::Inline(text.clone())),
    }
}

/// Stdlib script names, then `.ntr` files (and directories to reach them).
fn scripts(current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    let mut out: Vec<CompletionCandidate> = ntr_stdlib::scripts()
        .filter(|(name, _)| name.starts_with(prefix.as_ref()))
        .map(|(name, text)| {
            let doc = pipeline::script_doc(text).and_then(|d| d.lines().next().map(str::to_string));
            CompletionCandidate::new(name).help(doc.map(Into::into))
        })
        .collect();
    out.extend(PathCompleter::any().filter(|p| p.extension() == Some(OsStr::new("ntr"))).complete(current));
    out
}

/// `NAME=` for each `param` the script declares that starts as typed.
fn params(script: Option<&Script>, current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(script) = script else {
        return Vec::new();
    };
    let prefix = current.to_string_lossy();
    pipeline::declared_params(script)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, ty)| (format!("{name}="), ty))
        .filter(|(word, _)| word.starts_with(prefix.as_ref()))
        .map(|(word, ty)| CompletionCandidate::new(word).help(Some(ty.into())))
        .collect()
}
