//! `ntr man`: manual pages generated from the command-line definition
//! (clap_mangen), so they say exactly what `ntr --help` says.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;

/// Without a directory, print ntr(1) on standard output; with one (made if
/// missing), write ntr.1 and a page per command (ntr-run.1, …) there and
/// name each file.
pub fn run(dir: Option<&Path>) -> u8 {
    let result = match dir {
        None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()),
        Some(dir) => write_pages(dir),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let to = dir.map(|d| format!(" to `{}`", d.display())).unwrap_or_default();
            eprintln!("ntr: cannot write the manual pages{to}: {e}");
            1
        }
    }
}

fn write_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Cli::command();
    cmd.build();
    let mut pages = vec![cmd.clone()];
    pages.extend(cmd.get_subcommands().cloned());
    for page in pages {
        let path = clap_mangen::Man::new(page).generate_to(dir)?;
        println!("{}", path.display());
    }
    Ok(())
}
