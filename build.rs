//! Puts the commit this binary is built from into `ntr --version`, read from
//! git at build time; built outside a git checkout (a tarball), it says
//! "unknown commit" rather than guess.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    // Rebuild the version when HEAD moves: a checkout changes HEAD, a commit
    // appends to HEAD's reflog and rewrites the branch's ref.
    for path in ["HEAD", "logs/HEAD"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(p) = git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])) {
        println!("cargo:rerun-if-changed={p}");
    }
    let commit = match (git(&["rev-parse", "--short", "HEAD"]), git(&["log", "-1", "--format=%cs", "HEAD"])) {
        (Some(hash), Some(date)) => format!("{hash} {date}"),
        (Some(hash), None) => hash,
        _ => "unknown commit".to_string(),
    };
    println!("cargo:rustc-env=NTR_VERSION={} ({commit})", env!("CARGO_PKG_VERSION"));
}
