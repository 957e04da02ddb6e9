//! The thread that owns the attached blocks: it attaches and detaches them
//! on request and streams their events above the prompt. Loaded programs
//! never leave this thread; the editor talks to it through a channel.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use ntr_compiler::artifact::Artifact;
use ntr_runtime::{Live, RuntimeError};
use rustyline::ExternalPrinter;

/// A block the session attached, live or detached (its maps stay readable).
struct Block {
    id: usize,
    source: String,
    probes: Vec<String>,
    live: Live,
}

impl Block {
    /// Detach, print the maps, and say why.
    fn stop(&mut self, out: &mut Vec<u8>, why: &str) {
        if let Err(e) = self.live.detach(out) {
            out.extend(format!("[{}] {e:?}\n", self.id).bytes());
        }
        let _ = self.live.print_maps(out);
        match self.live.after_exit() {
            0 => {}
            n => out.extend(format!("[{}] {n} event{} after exit() not printed\n", self.id, if n == 1 { "" } else { "s" }).bytes()),
        }
        out.extend(format!("[{}] {why}\n", self.id).bytes());
    }
}

pub enum Request {
    Attach {
        artifact: Box<Artifact>,
        source: String,
        reply: Sender<Result<(usize, usize), RuntimeError>>,
    },
    /// `None`: every block. Replies with what was printed on detaching.
    Detach {
        id: Option<usize>,
        reply: Sender<Result<String, String>>,
    },
    List {
        reply: Sender<String>,
    },
    /// Print map `name` from every block that has it (`None`: every map).
    Print {
        name: Option<String>,
        reply: Sender<String>,
    },
    Clear {
        name: String,
        reply: Sender<bool>,
    },
    /// The sources of the attached blocks, for `:save`.
    Sources {
        reply: Sender<Vec<String>>,
    },
}

/// Prints events when there is no terminal to print above (input piped in).
pub struct Plain;

impl ExternalPrinter for Plain {
    fn print(&mut self, msg: String) -> rustyline::Result<()> {
        use std::io::Write;
        let mut out = std::io::stdout();
        out.write_all(msg.as_bytes())?;
        Ok(out.flush()?)
    }
}

pub fn run(requests: Receiver<Request>, mut printer: Box<dyn ExternalPrinter + Send>) {
    let mut blocks: Vec<Block> = Vec::new();
    let mut next = 1;
    loop {
        match requests.recv_timeout(Duration::from_millis(50)) {
            Ok(r) => handle(r, &mut blocks, &mut next),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let mut out = Vec::new();
        for b in blocks.iter_mut().filter(|b| b.live.is_attached()) {
            let _ = b.live.drain(&mut out);
            if b.live.exit_requested() {
                b.stop(&mut out, "exited");
            }
        }
        if !out.is_empty() {
            let _ = printer.print(String::from_utf8_lossy(&out).into_owned());
        }
    }
    // The editor is gone: detach whatever is still attached.
    for b in &mut blocks {
        let _ = b.live.detach(&mut std::io::sink());
    }
}

fn handle(request: Request, blocks: &mut Vec<Block>, next: &mut usize) {
    match request {
        Request::Attach { artifact, source, reply } => {
            let result = Live::start(&artifact, false, false, None, Default::default()).map(|live| {
                let id = *next;
                *next += 1;
                let attached = live.attached();
                let probes = artifact.programs.iter().map(|p| p.probe.clone()).collect();
                blocks.push(Block { id, source, probes, live });
                (id, attached)
            });
            let _ = reply.send(result);
        }
        Request::Detach { id, reply } => {
            let mut out = Vec::new();
            let mut found = false;
            for b in blocks.iter_mut().filter(|b| id.is_none_or(|i| i == b.id) && b.live.is_attached()) {
                found = true;
                b.stop(&mut out, "detached");
            }
            let _ = reply.send(match (found, id) {
                (false, Some(i)) => Err(format!("no attached block {i} (`:list` shows them)")),
                _ => Ok(String::from_utf8_lossy(&out).into_owned()),
            });
        }
        Request::List { reply } => {
            let text: String = blocks
                .iter()
                .map(|b| {
                    let state = if b.live.is_attached() { "attached" } else { "detached" };
                    let hits = b.live.hits().map(|h| h.to_string()).unwrap_or_else(|| "?".into());
                    format!("[{}] {state:<8} {hits:>8} hits {:>8} events  {}\n", b.id, b.live.events(), b.probes.join(", "))
                })
                .collect();
            let _ = reply.send(text);
        }
        Request::Print { name, reply } => {
            let mut out = Vec::new();
            for b in blocks.iter_mut() {
                match &name {
                    Some(n) => {
                        let _ = b.live.print_map(n, &mut out);
                    }
                    None => {
                        let _ = b.live.print_maps(&mut out);
                    }
                }
            }
            let _ = reply.send(String::from_utf8_lossy(&out).into_owned());
        }
        Request::Clear { name, reply } => {
            let mut any = false;
            for b in blocks.iter() {
                any |= b.live.clear_map(&name);
            }
            let _ = reply.send(any);
        }
        Request::Sources { reply } => {
            let _ = reply.send(blocks.iter().filter(|b| b.live.is_attached()).map(|b| b.source.clone()).collect());
        }
    }
}
