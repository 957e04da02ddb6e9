//! `ntr repl`: probe blocks attach as they are typed; their output streams
//! above the prompt; `param`, `fn` and `use` lines apply to later blocks;
//! `:save` turns the session into a script.

mod engine;
mod helper;

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc::{self, Sender};

use ntr_compiler::artifact::Artifact;
use ntr_lang::check::{self, CheckOptions};
use ntr_lang::kernel::btf::KernelBtf;
use ntr_lang::source::Sources;
use ntr_lang::syntax::{self, modules};
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::Editor;

use crate::report;
use engine::Request;
use helper::ReplHelper;

/// The `:` commands, for completion (each is in HELP).
pub(crate) const COMMANDS: &[&str] = &[":list", ":detach", ":maps", ":print", ":clear", ":load", ":save", ":info", ":help", ":quit"];

const HELP: &str = "\
Type a probe block to attach it:   on kfree_skb { @drops[reason] = count(); }
param/fn/use lines apply to the blocks typed after them.
@name              print a map
:list              the session's blocks: how often each ran (past its condition) and printed
:detach N|all      detach a block, or all (Ctrl-C too); maps stay readable
:maps              print every map
:print @name       print a map
:clear @name       empty a map
:load FILE         attach a script's probes
:save FILE         write the definitions and attached blocks as a script
:info PROBE        a probe's arguments (:info struct NAME: a struct's fields)
:help, :quit       this text; leave (Ctrl-D too)
";

/// `$XDG_STATE_HOME/ntr/history`, else `~/.local/state/ntr/history`.
fn history_path() -> Option<PathBuf> {
    let state =
        std::env::var_os("XDG_STATE_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))?;
    Some(state.join("ntr").join("history"))
}

struct Session {
    kernel: Rc<KernelBtf>,
    features: ntr_runtime::features::Features,
    /// `param`, `fn` and `use` lines, in order.
    defs: Vec<String>,
    engine: Sender<Request>,
}

enum Next {
    Continue,
    Quit,
}

pub fn run() -> u8 {
    let kernel = match KernelBtf::from_sys() {
        Ok(k) => Rc::new(k),
        Err(e) => {
            eprintln!("ntr: cannot read this kernel's types: {e}");
            return 1;
        }
    };
    let config = Config::builder().completion_type(CompletionType::List).auto_add_history(true).build();
    let mut editor: Editor<ReplHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ntr: cannot start the line editor: {e}");
            return 1;
        }
    };
    editor.set_helper(Some(ReplHelper::new(kernel.clone())));
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    // Without a terminal (input piped in) events are simply printed.
    let printer: Box<dyn rustyline::ExternalPrinter + Send> = match editor.create_external_printer() {
        Ok(p) => Box::new(p),
        Err(_) => Box::new(engine::Plain),
    };
    let (tx, rx) = mpsc::channel();
    let engine = std::thread::spawn(move || engine::run(rx, printer));
    let mut session = Session { kernel, features: Default::default(), defs: Vec::new(), engine: tx };
    println!("ntr repl: type a probe block to attach it; :help for commands, Ctrl-C detaches, Ctrl-D quits.");
    loop {
        match editor.readline("ntr> ") {
            Ok(line) => {
                if let Next::Quit = session.handle(line.trim(), &mut editor) {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => session.detach(None),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("ntr: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(h);
    }
    session.detach(None);
    drop(session);
    let _ = engine.join();
    0
}

impl Session {
    fn handle(&mut self, input: &str, editor: &mut Editor<ReplHelper, FileHistory>) -> Next {
        let first = input.split(|c: char| c.is_whitespace() || c == '{').next().unwrap_or("");
        match first {
            "" => {}
            ":quit" | ":q" => return Next::Quit,
            ":help" => print!("{HELP}"),
            _ if first.starts_with(':') => self.command(first, input[first.len()..].trim()),
            "param" | "fn" | "use" => {
                if self.try_defs(input) && first == "fn" {
                    if let (Some(h), Some(name)) = (editor.helper_mut(), input[2..].trim_start().split(['(', ' ']).next()) {
                        h.fns.push(name.to_string());
                    }
                }
            }
            _ if first.starts_with('@') => self.print(Some(first.to_string())),
            "on" | "begin" | "end" | "every" => {
                if let Some(artifact) = self.compile(input) {
                    self.attach(artifact, input.to_string());
                }
            }
            _ => eprintln!("ntr: expected a probe block (`on …`), param, fn, use, a @map or a :command (:help)"),
        }
        Next::Continue
    }

    fn command(&mut self, cmd: &str, arg: &str) {
        match (cmd, arg) {
            (":list", _) => print!("{}", self.ask(|reply| Request::List { reply }).unwrap_or_default()),
            (":detach", "all") | (":detach", "") => self.detach(None),
            (":detach", n) => match n.parse() {
                Ok(id) => self.detach(Some(id)),
                Err(_) => eprintln!("ntr: `:detach N` takes a block number (`:list`) or `all`"),
            },
            (":maps", _) => self.print(None),
            (":print", m) if m.starts_with('@') => self.print(Some(m.to_string())),
            (":clear", m) if m.starts_with('@') => {
                if !self.ask(|reply| Request::Clear { name: m.to_string(), reply }).unwrap_or(false) {
                    eprintln!("ntr: no map {m}");
                }
            }
            (":load", file) if !file.is_empty() => self.load(file),
            (":save", file) if !file.is_empty() => self.save(file),
            (":info", what) if !what.is_empty() => {
                let words: Vec<String> = what.split_whitespace().map(String::from).collect();
                crate::discover::info(&words);
            }
            _ => eprintln!("ntr: unknown command or missing argument: {cmd} (:help lists them)"),
        }
    }

    /// Send a request and wait for its reply.
    fn ask<T>(&self, make: impl FnOnce(Sender<T>) -> Request) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.engine.send(make(tx)).ok()?;
        rx.recv().ok()
    }

    fn print(&self, name: Option<String>) {
        let text = self.ask(|reply| Request::Print { name: name.clone(), reply }).unwrap_or_default();
        if text.is_empty() {
            eprintln!("ntr: {} is empty or does not exist", name.as_deref().unwrap_or("every map"));
        }
        print!("{text}");
    }

    fn detach(&self, id: Option<usize>) {
        match self.ask(|reply| Request::Detach { id, reply }) {
            Some(Ok(text)) => print!("{text}"),
            Some(Err(e)) => eprintln!("ntr: {e}"),
            None => {}
        }
    }

    /// Accept definition lines if they parse (with the earlier ones).
    fn try_defs(&mut self, input: &str) -> bool {
        let mut sources = Sources::new();
        let mut defs = self.defs.clone();
        defs.push(input.to_string());
        let file = sources.add("<repl>", defs.join("\n"));
        match modules::load(&mut sources, file, Some(Path::new("."))) {
            Ok(_) => {
                self.defs = defs;
                true
            }
            Err(d) => {
                report::diagnostics(&sources, &[d]);
                false
            }
        }
    }

    /// Check and compile a block with the session's definitions.
    fn compile(&self, block: &str) -> Option<Artifact> {
        let mut sources = Sources::new();
        let defs = sources.add("<repl definitions>", self.defs.join("\n"));
        let loaded = match modules::load(&mut sources, defs, Some(Path::new("."))) {
            Ok(m) => m,
            Err(d) => {
                report::diagnostics(&sources, &[d]);
                return None;
            }
        };
        let file = sources.add("<repl>", block);
        let script = match syntax::parse(&sources, file) {
            Ok(s) => s,
            Err(d) => {
                report::diagnostics(&sources, &[d]);
                return None;
            }
        };
        let mut scripts: Vec<&ntr_lang::ast::Script> = loaded.iter().map(|m| &m.script).collect();
        scripts.push(&script);
        let program = match check::check(
            &scripts,
            &*self.kernel,
            &CheckOptions { params: &[], attach: &self.features, host: Some(&ntr_runtime::netns::Namespaces), cpid: None, snaplen: None },
        ) {
            Ok(p) => {
                report::diagnostics(&sources, &p.warnings);
                if p.pcap_left_out {
                    eprintln!("ntr: pcap() writes nothing in the repl: run the script with `ntr run FILE --pcap FILE`");
                }
                p
            }
            Err(diags) => {
                report::diagnostics(&sources, &diags);
                return None;
            }
        };
        match ntr_compiler::compile_with(&program, true) {
            Ok(a) => Some(a),
            Err(e) => {
                report::diagnostics(&sources, &[e.to_diagnostic()]);
                None
            }
        }
    }

    fn attach(&self, artifact: Artifact, source: String) {
        match self.ask(|reply| Request::Attach { artifact: Box::new(artifact.clone()), source, reply }) {
            Some(Ok((id, n))) => println!("[{id}] attached {n} probe{}", if n == 1 { "" } else { "s" }),
            Some(Err(e)) => {
                report::runtime_error(&Sources::new(), &artifact, &e, false);
            }
            None => eprintln!("ntr: the session's engine stopped"),
        }
    }

    fn load(&self, file: &str) {
        let script = crate::pipeline::Script::File(PathBuf::from(file));
        match crate::pipeline::front(&script, &[], crate::pipeline::Target::ThisKernel, None, None) {
            Ok(checked) => match ntr_compiler::compile_with(&checked.program, true) {
                Ok(a) if checked.program.pcap_left_out => {
                    eprintln!("ntr: pcap() writes nothing in the repl: run the script with `ntr run FILE --pcap FILE`");
                    self.attach(a, std::fs::read_to_string(file).unwrap_or_default())
                }
                Ok(a) => self.attach(a, std::fs::read_to_string(file).unwrap_or_default()),
                Err(e) => report::diagnostics(&checked.sources, &[e.to_diagnostic()]),
            },
            Err(f) => {
                f.report();
            }
        }
    }

    fn save(&self, file: &str) {
        let blocks = self.ask(|reply| Request::Sources { reply }).unwrap_or_default();
        let mut text = String::from("## Saved from an ntr repl session.\n\n");
        for d in &self.defs {
            text.push_str(d);
            text.push('\n');
        }
        for b in &blocks {
            text.push('\n');
            text.push_str(b);
            text.push('\n');
        }
        match std::fs::write(file, text) {
            Ok(()) => println!(
                "saved {} definition{} and {} block{} to {file}",
                self.defs.len(),
                if self.defs.len() == 1 { "" } else { "s" },
                blocks.len(),
                if blocks.len() == 1 { "" } else { "s" }
            ),
            Err(e) => eprintln!("ntr: cannot write {file}: {e}"),
        }
    }
}
