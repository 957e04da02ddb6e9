//! `ntr repl` driven through a real terminal (tmux), as a user would.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A tmux session running `ntr repl`, killed on drop.
struct Terminal {
    name: String,
    dir: PathBuf,
}

impl Terminal {
    fn start() -> Terminal {
        let name = format!("ntr-repl-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let ntr = env!("CARGO_BIN_EXE_ntr");
        let cmd = format!("cd {d} && NO_COLOR=1 XDG_STATE_HOME={d} {ntr} repl; echo $? > {d}/exit; sleep 60", d = dir.display());
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "200", "-y", "60", &cmd])
            .status()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(ok.success());
        let t = Terminal { name, dir };
        t.wait_for("ntr>");
        t
    }

    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux").args(["send-keys", "-t", &self.name]).args(keys).status().unwrap();
        assert!(ok.success());
    }

    fn line(&self, text: &str) {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux").args(["capture-pane", "-p", "-t", &self.name, "-S", "-200"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until the screen shows `text`, and return the screen.
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "waited for {text:?}; the screen shows:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn exit_code(&self) -> Option<String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(code) = std::fs::read_to_string(self.dir.join("exit")) {
                return Some(code.trim().to_string());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.name]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_hunt_in_the_repl_becomes_a_script() {
    let _k = kernel_lock();
    let t = Terminal::start();
    // Only this test's own datagrams count (others may drop beside it).
    t.line("on kfree_skb if reason == NO_SOCKET && tuple(dport=39420) { @drops[reason] = count(); }");
    t.wait_for("[1] attached 1 probe");
    udp_to_closed_port(39_420, 5, 8);
    t.line("@drops");
    t.wait_for("@drops[NO_SOCKET]: 5");
    // Events stream above the prompt.
    t.line(r#"on kfree_skb if reason == NO_SOCKET && tuple(dport=39420) { printf("dropped: %s\n", reason); }"#);
    t.wait_for("[2] attached 1 probe");
    udp_to_closed_port(39_420, 1, 8);
    t.wait_for("dropped: NO_SOCKET");
    t.line(":list");
    t.wait_for("[2] attached");
    let screen = t.screen();
    assert!(screen.lines().any(|l| l.starts_with("[1] attached") && l.ends_with("tracepoint:skb:kfree_skb")), "{screen}");
    // Hits are the runs that passed the block's condition (the test's own
    // datagrams: 5, then 1 more), events what it printed.
    assert!(screen.lines().any(|l| l.starts_with("[1] attached") && l.contains(" 6 hits ") && l.contains(" 0 events ")), "{screen}");
    assert!(screen.lines().any(|l| l.starts_with("[2] attached") && l.contains(" 1 hits ") && l.contains(" 1 events ")), "{screen}");

    // Completion of struct fields after `.`: two tabs list the candidates.
    t.keys(&["-l", "on kfree_skb { print(skb.l"]);
    t.keys(&["Tab", "Tab"]);
    let screen = t.wait_for("ll_node");
    assert!(screen.split_whitespace().any(|w| w == "len"), "{screen}");
    t.keys(&["C-u"]);
    // Enum values after a comparison with an enum argument, the fields of
    // network values, and `:` commands, each completed by one tab.
    t.keys(&["-l", "on kfree_skb if reason != NO_SOC"]);
    t.keys(&["Tab"]);
    t.wait_for("reason != NO_SOCKET");
    t.keys(&["C-u"]);
    t.keys(&["-l", "on kfree_skb { print(tuple(skb).dp"]);
    t.keys(&["Tab"]);
    t.wait_for("tuple(skb).dport");
    t.keys(&["C-u"]);
    t.keys(&["-l", ":deta"]);
    t.keys(&["Tab"]);
    t.wait_for(":detach");
    t.keys(&["C-u"]);

    // A syntax error is a diagnostic; the session goes on.
    t.line("on kfree_skb { @x = ; }");
    t.wait_for("error: unexpected `;`");
    t.line(":save saved.ntr");
    t.wait_for("saved 0 definitions and 2 blocks");

    // Ctrl-C detaches (the maps print and stay readable); nothing stays loaded.
    t.keys(&["C-c"]);
    t.wait_for("[2] detached");
    assert_nothing_left();
    t.line(":print @drops");
    t.line(":help");
    t.wait_for(":save FILE");
    t.keys(&["C-d"]);
    assert_eq!(t.exit_code().as_deref(), Some("0"), "{}", t.screen());

    // The saved session runs as a script, with the same result.
    let script = t.dir.join("saved.ntr");
    let run = run_with(&["run", script.to_str().unwrap(), "--duration", "60s"], || udp_to_closed_port(39_420, 5, 8));
    run.ok();
    assert!(run.stdout.contains("@drops[NO_SOCKET]: 5"), "{}", run.stdout);
    assert_eq!(run.stdout.matches("dropped: NO_SOCKET").count(), 5, "{}", run.stdout);
    assert_nothing_left();
}

#[test]
fn a_deeply_nested_line_is_a_diagnostic() {
    // One session at a time (sessions are named by process).
    let _k = kernel_lock();
    let t = Terminal::start();
    t.line(&format!("on kfree_skb {{ @x = {}1; }}", "- ".repeat(5000)));
    t.wait_for("error: expression nests deeper than 256 levels");
    // The session goes on.
    t.line(":help");
    t.wait_for(":save FILE");
    t.keys(&["C-d"]);
    assert_eq!(t.exit_code().as_deref(), Some("0"), "{}", t.screen());
    assert_nothing_left();
}
