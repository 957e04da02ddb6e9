//! Command-line grammar (clap) and dispatch to the commands.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::pipeline::{self, Script};
use crate::report;

#[derive(Parser)]
#[command(name = "ntr", version = env!("NTR_VERSION"), about = "Scriptable tracing for Linux network hunts", disable_help_subcommand = true)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Run this program text, e.g. `ntr -e 'on kfree_skb { @[reason] = count(); }'`
    #[arg(short = 'e', value_name = "PROGRAM")]
    pub program: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Clone, Default)]
pub struct ParamArgs {
    /// Set a script parameter: `-p dport=9418`
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Keep packets matching a tcpdump expression: `-f "udp dst port 53"`
    /// (sets the script's `filter` parameter; the network scripts have one)
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    pub filter: Option<String>,
}

impl ParamArgs {
    /// The `-p` parameters, and `-f` as the parameter `filter`.
    pub fn all(&self) -> Vec<(String, String)> {
        let mut all = self.params.clone();
        all.extend(self.filter.iter().map(|f| ("filter".to_string(), f.clone())));
        all
    }
}

#[derive(Args, Clone, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub params: ParamArgs,
    /// Stop after this long: `500ms`, `3s`, `1m` (the unit is required)
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// One JSON object per event and per map row
    #[arg(long)]
    pub json: bool,
    /// Wall-clock times (`walltime`) in UTC rather than local time
    #[arg(long)]
    pub utc: bool,
    /// Show raw verifier logs and other details
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// uprobes fire only in this process
    #[arg(long, conflicts_with = "command")]
    pub pid: Option<std::num::NonZeroU32>,
    /// Run this command once the probes are attached and stop when it
    /// exits; `cpid` is its pid and uprobes fire only in it:
    /// `-c 'curl -s http://10.0.2.2/'`
    #[arg(short = 'c', long = "cmd", value_name = "CMD")]
    pub command: Option<String>,
    /// Write maps keyed by kstack/ustack as folded stacks
    #[arg(long, value_name = "FILE")]
    pub folded: Option<PathBuf>,
    /// Write maps keyed by kstack/ustack as a flame graph
    #[arg(long, value_name = "FILE.svg")]
    pub flamegraph: Option<PathBuf>,
    /// Size of the ring buffer events pass through (default 512K; a power
    /// of two from 4K): raise it when events are lost
    #[arg(long, value_name = "SIZE", value_parser = parse_buffer_size)]
    pub buffer_size: Option<u32>,
    /// Entries each map holds (default 10240): raise it when updates are
    /// dropped because a map was full
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=(1 << 24)))]
    pub map_size: Option<u32>,
    /// Serve the script's maps to Prometheus on http://ADDR:PORT/metrics
    /// while it runs: `--metrics 127.0.0.1:9431` (`@name` is `ntr_name`)
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// The most series a scrape of --metrics holds; the rest are counted in
    /// `ntr_series_dropped_total`
    #[arg(long, value_name = "N", default_value_t = 10_000, requires = "metrics")]
    pub metrics_max_series: usize,
    /// Write the packets of the script's `pcap(skb)` statements to this
    /// pcapng file (read it with tcpdump -r, tshark -r, Wireshark)
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Bytes of each packet captured for --pcap, from its network header
    #[arg(long, value_name = "N", default_value_t = ntr_runtime::pcap::DEFAULT_SNAPLEN,
          value_parser = clap::value_parser!(u16).range(1..=ntr_runtime::pcap::MAX_SNAPLEN as i64), requires = "pcap")]
    pub snaplen: u16,
    /// Size the --pcap file may reach (default 64M); later packets are
    /// counted, not written
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "pcap")]
    pub pcap_limit: Option<u64>,
}

impl RunArgs {
    /// The pipeline's request for this command line.
    fn request(&self) -> pipeline::RunRequest {
        pipeline::RunRequest {
            params: self.params.all(),
            command: self.command.clone(),
            snaplen: self.pcap.is_some().then_some(self.snaplen),
            options: ntr_runtime::RunOptions {
                duration: self.duration,
                json: self.json,
                utc: self.utc,
                verbose: self.verbose,
                pid: self.pid,
                folded: self.folded.clone(),
                flamegraph: self.flamegraph.clone(),
                buffer_bytes: self.buffer_size,
                map_size: self.map_size,
                metrics: self.metrics.map(|addr| (addr, self.metrics_max_series)),
                command: None,
                pcap: self
                    .pcap
                    .clone()
                    .map(|path| ntr_runtime::pcap::Options { path, limit: self.pcap_limit.unwrap_or(ntr_runtime::pcap::DEFAULT_LIMIT) }),
            },
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a script file or a stdlib script by name
    Run {
        /// A `.ntr` file or a stdlib script name (`ntr list scripts`)
        script: String,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Parse, type-check and resolve probes against this kernel without loading
    Check {
        script: String,
        #[command(flatten)]
        params: ParamArgs,
    },
    /// Compile to a BPF ELF object, or print the instructions with `--dump`
    Compile {
        script: String,
        /// Where to write the object
        #[arg(short = 'o', value_name = "OUT.o")]
        output: Option<PathBuf>,
        /// Print the instructions annotated with source lines
        #[arg(long)]
        dump: bool,
        /// Compile against another kernel's BTF (its /sys/kernel/btf/vmlinux,
        /// copied): struct layouts and function prototypes come from it, and
        /// tracepoints must be ones it describes (tp_btf)
        #[arg(long, value_name = "FILE")]
        btf: Option<PathBuf>,
        #[command(flatten)]
        params: ParamArgs,
    },
    /// List probes matching a glob (`ntr list 'kfree*'`, `ntr list 'tracepoint:skb:*'`)
    /// with the attach method this kernel allows, `ntr list scripts`, or
    /// `ntr list reasons` (this kernel's drop reasons, explained)
    List { pattern: Option<String> },
    /// A probe's arguments and types (`ntr info kfree_skb`), or a struct's
    /// fields (`ntr info struct sk_buff`), an enum's values (`ntr info enum NAME`), a drop reason
    /// (`ntr info reason no_socket`), or a builtin (`ntr info builtin kstack`, `ntr info builtins`)
    Info {
        #[arg(required = true, num_args = 1..=2)]
        what: Vec<String>,
    },
    /// Attach probe blocks as you type them
    Repl,
    /// Print shell code completing ntr's commands, stdlib script names and a
    /// script's `-p` parameters: `source <(ntr completions bash)`
    Completions { shell: clap_complete::Shell },
    /// Print the manual page, or write it and one per command into DIR:
    /// `ntr man /usr/local/share/man/man1`
    Man {
        /// Write ntr.1 and ntr-COMMAND.1 here rather than print ntr.1
        dir: Option<PathBuf>,
    },
    /// Show a script's help (its `##` lines): a stdlib script or a `.ntr` file; or ntr's
    Help { name: Option<String> },
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

/// `--buffer-size`: bytes, or with K, M or G; the kernel takes powers of two
/// from a page (4K) on.
fn parse_buffer_size(text: &str) -> Result<u32, String> {
    let bytes = parse_size(text)?;
    if bytes < 4096 || !bytes.is_power_of_two() || bytes > 1 << 30 {
        return Err(format!("`{text}` cannot size the ring buffer: it takes a power of two from 4K to 1G, e.g. 8M"));
    }
    Ok(bytes as u32)
}

/// `512K`, `8M`, `1G`, `4096`: bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.trim_end_matches(['B', 'b']).strip_suffix(['K', 'k', 'M', 'm', 'G', 'g']) {
        Some(d) => (d, text.trim_end_matches(['B', 'b']).chars().last().map(|c| c.to_ascii_uppercase())),
        None => (text.trim_end_matches(['B', 'b']), None),
    };
    let shift = match unit {
        Some('K') => 10,
        Some('M') => 20,
        Some('G') => 30,
        _ => 0,
    };
    let n = digits.parse::<u64>().map_err(|_| format!("`{text}` is not a size: write e.g. 512K, 8M"))?;
    n.checked_mul(1 << shift).filter(|b| *b < 1 << 62).ok_or_else(|| format!("`{text}` is too large a size"))
}

/// A run's duration needs a unit: a bare `5` would be 5 nanoseconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    use ntr_lang::check::DurationError;
    ntr_lang::check::parse_duration(text).map(Duration::from_nanos).map_err(|e| match e {
        DurationError::NoUnit => format!("`{text}` has no unit\n\n  hint: write `--duration {text}s` (or ms, us, ns, m, h)"),
        DurationError::Invalid => format!("`{text}` is not a duration: write e.g. 500ms, 3s, 1m"),
    })
}

/// Run the command; returns the process exit code.
pub fn dispatch(cli: Cli) -> u8 {
    // Every command that reads or loads into the kernel needs privileges;
    // say so first rather than fail on the way (or print a kernel's worth of
    // nothing). What runs with less says what it will do without.
    let lists_scripts = matches!(&cli.command, Some(Command::List { pattern: Some(p) }) if p == "scripts");
    let touches_kernel = !lists_scripts
        && !matches!(cli.command, Some(Command::Completions { .. } | Command::Man { .. } | Command::Help { .. } | Command::Compile { .. }));
    if touches_kernel && (cli.command.is_some() || cli.program.is_some()) {
        match ntr_runtime::privileges::check() {
            Err(why) => {
                eprintln!(
                    "error: {why}
  = help: run it as root (e.g. with sudo)"
                );
                return 1;
            }
            Ok(limits) => {
                let runs = matches!(cli.command, None | Some(Command::Run { .. } | Command::Repl));
                for limit in limits.iter().filter(|_| runs) {
                    eprintln!("ntr: {limit}");
                }
            }
        }
    }
    match cli.command {
        None => match cli.program {
            Some(text) => pipeline::run(Script::Inline(text), cli.run.request()),
            None => {
                eprintln!("ntr: nothing to run: give `-e 'PROGRAM'` or a command (`ntr --help`)");
                2
            }
        },
        Some(Command::Run { script, run }) => match pipeline::locate(&script) {
            Ok(s) => pipeline::run(s, run.request()),
            Err(d) => report::global(&d),
        },
        Some(Command::Check { script, params }) => match pipeline::locate(&script) {
            Ok(s) => pipeline::check(s, &params.all()),
            Err(d) => report::global(&d),
        },
        Some(Command::Compile { script, output, dump, params, btf }) => match pipeline::locate(&script) {
            Ok(s) => pipeline::compile(s, &params.all(), output.as_deref(), dump, btf.as_deref()),
            Err(d) => report::global(&d),
        },
        Some(Command::List { pattern }) => crate::discover::list(pattern.as_deref()),
        Some(Command::Info { what }) => crate::discover::info(&what),
        Some(Command::Repl) => crate::repl::run(),
        Some(Command::Completions { shell }) => crate::completion::registration(shell),
        Some(Command::Man { dir }) => crate::manpage::run(dir.as_deref()),
        Some(Command::Help { name: Some(name) }) => pipeline::help(&name),
        Some(Command::Help { name: None }) => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            0
        }
    }
}
