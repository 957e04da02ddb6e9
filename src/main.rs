//! `ntr`: the command line. Thin: it wires the front end, the compiler and
//! the runtime together and maps failures to exit codes (0 ok, 1 runtime
//! failure, 2 script error).

mod cli;
mod completion;
mod discover;
mod habits;
mod manpage;
mod pipeline;
mod reasons;
mod repl;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `ntr list | head`: a closed pipe ends ntr quietly, as it does `ls`.
    // SAFETY: setting a signal's disposition before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // `COMPLETE=bash ntr -- WORDS…`: the shell asking for candidates.
    completion::answer_if_asked();
    let words: Vec<String> = std::env::args().skip(1).collect();
    let parsed = cli::Cli::try_parse();
    let refused = parsed.as_ref().is_err_and(|e| e.use_stderr());
    if let Some(hint) = habits::hint(&words, refused) {
        eprintln!("error: {hint}");
        return ExitCode::from(2);
    }
    match parsed {
        Ok(args) => ExitCode::from(cli::dispatch(args)),
        Err(e) => e.exit(),
    }
}
