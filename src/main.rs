//! `ntr`: the command line. Thin: it wires the front end, the compiler and
//! the runtime together and maps failures to exit codes (0 ok, 1 runtime
//! failure, 2 script error).

mod cli;
mod pipeline;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    ExitCode::from(cli::dispatch(args))
}
