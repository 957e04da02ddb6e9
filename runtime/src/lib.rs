//! ntr's runtime: load and attach an `Artifact`'s programs through aya, read
//! events from the ring buffer as they come, print maps at the end, and
//! leave nothing attached on any exit path.

mod attach;
mod cat;
mod cause;
mod clock;
pub mod command;
mod cpus;
mod decode;
mod facts;
mod folded;
mod format;
mod maps;
mod net;
mod rawmap;
mod symbols;
mod verifier;

pub mod features;
pub mod metrics;
pub mod netfilter;
pub mod netns;
pub mod pcap;
pub mod privileges;
pub mod replay;

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aya::maps::{Map, MapData, RingBuf, StackTraceMap};
use ntr_compiler::artifact::{map_full_counter, Artifact, LOST_EVENTS};
use ntr_lang::tir::{Attach, MapKind, Output};
use ntr_lang::types::Type;
use serde_json::json;

use format::Printer;
use maps::UserMap;
use rawmap::{per_cpu_u64, u64_at, RawMap};

pub struct RunOptions {
    pub duration: Option<Duration>,
    pub json: bool,
    /// Wall-clock times in UTC rather than local time.
    pub utc: bool,
    pub verbose: bool,
    /// uprobes fire only in this process.
    pub pid: Option<std::num::NonZeroU32>,
    /// Write the stack-keyed maps as folded stacks here.
    pub folded: Option<std::path::PathBuf>,
    /// Write them as a flame graph SVG here.
    pub flamegraph: Option<std::path::PathBuf>,
    /// The ring buffer's size in bytes, instead of the compiler's default.
    pub buffer_bytes: Option<u32>,
    /// Entries of every script map, instead of the compiler's default.
    pub map_size: Option<u32>,
    /// Serve the maps on `/metrics` here, at most this many series.
    pub metrics: Option<(std::net::SocketAddr, usize)>,
    /// `-c CMD`: let it exec once attached; the run ends when it exits.
    pub command: Option<command::HeldCommand>,
    /// Write the packets of `pcap()` statements to this file.
    pub pcap: Option<pcap::Options>,
}

/// Sizes chosen at load instead of the compiler's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sizes {
    /// The ring buffer's bytes.
    pub buffer_bytes: Option<u32>,
    /// Entries of every script map.
    pub map_size: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    ExitCalled,
    Duration,
    Signal(i32),
    /// The `-c` command ended with this status (128 + N: killed by signal N).
    CommandExited(i32),
}

#[derive(Debug)]
pub struct RunSummary {
    pub events: u64,
    pub lost_events: u64,
    pub map_full: u64,
    pub exit_reason: ExitReason,
}

#[derive(Debug)]
pub enum RuntimeError {
    /// The verifier rejected a program: `insn` is the instruction it stopped
    /// at, `reason` its complaint in plain words, `log` the raw log.
    Verifier {
        program: String,
        insn: Option<usize>,
        reason: String,
        log: String,
    },
    Attach {
        probe: String,
        message: String,
        hint: Option<String>,
    },
    Privileges {
        message: String,
    },
    Other(String),
}

fn map_data(map: Map) -> Result<MapData, RuntimeError> {
    match map {
        Map::HashMap(d) | Map::PerCpuHashMap(d) | Map::PerCpuArray(d) | Map::Array(d) | Map::StackTraceMap(d) | Map::RingBuf(d) => Ok(d),
        _ => Err(RuntimeError::Other("unexpected map type in the object".into())),
    }
}

fn take(ebpf: &mut aya::Ebpf, symbol: &str) -> Result<MapData, RuntimeError> {
    let map = ebpf.take_map(symbol).ok_or_else(|| RuntimeError::Other(format!("map {symbol} missing from the object")))?;
    map_data(map)
}

/// The run's start for `elapsed`: CLOCK_MONOTONIC (the clock of
/// bpf_ktime_get_ns) now, written before any probe is attached.
fn write_start(ebpf: &mut aya::Ebpf, symbol: &str) -> Result<(), RuntimeError> {
    let map = ebpf.map_mut(symbol).ok_or_else(|| RuntimeError::Other(format!("map {symbol} missing from the object")))?;
    let mut start = aya::maps::Array::<_, u64>::try_from(map).map_err(|e| RuntimeError::Other(e.to_string()))?;
    start.set(0, clock::now(libc::CLOCK_MONOTONIC) as u64, 0).map_err(|e| RuntimeError::Other(format!("cannot write the start time: {e}")))
}

fn raw_fd(d: &MapData) -> RawFd {
    use std::os::fd::AsFd;
    d.fd().as_fd().as_raw_fd()
}

fn raise_memlock() {
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: plain setrlimit with a valid struct. Kernels ≥5.11 account BPF
    // memory to cgroups and ignore it; older ones need it.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}

/// Which signal stopped the run (0 = none yet). SIGHUP (the terminal went
/// away) ends a run as cleanly as Ctrl-C: `end` blocks run, maps print.
struct Signals {
    flag: Arc<AtomicBool>,
    which: Arc<AtomicI32>,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    fn install() -> Signals {
        let flag = Arc::new(AtomicBool::new(false));
        let which = Arc::new(AtomicI32::new(0));
        let mut ids = Vec::new();
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let (f, w) = (flag.clone(), which.clone());
            // SAFETY: the handler only stores to atomics.
            if let Ok(id) = unsafe {
                signal_hook::low_level::register(sig, move || {
                    w.store(sig, Ordering::SeqCst);
                    f.store(true, Ordering::SeqCst);
                })
            } {
                ids.push(id);
            }
        }
        Signals { flag, which, ids }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

struct Session {
    artifact: Artifact,
    json: bool,
    printer: Printer,
    maps: Vec<UserMap>,
    events: u64,
    exit: bool,
    /// `exit()` ran: later events, but the `end` blocks', are not printed.
    exited: bool,
    /// Events not printed because they came after `exit()`.
    after_exit: u64,
    /// `--pcap`: where `pcap()` records go.
    capture: Option<pcap::Capture>,
}

impl Session {
    /// Print one ring-buffer record; one that does not fit its layout is
    /// counted and skipped.
    fn event(&mut self, rec: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
        let Some((info, fields)) = decode::event(&self.artifact.events, rec) else {
            self.printer.malformed += 1;
            return Ok(());
        };
        self.events += 1;
        if self.exited && !info.from_end {
            if !matches!(info.output, Output::Exit) {
                self.after_exit += 1;
            }
            return Ok(());
        }
        let args: Vec<(Type, Vec<u8>)> = fields.into_iter().map(|(ty, b)| (ty, b.to_vec())).collect();
        match &info.output {
            Output::Printf(pieces) => {
                let text = self.printer.printf(pieces, &args);
                if self.json {
                    writeln!(out, "{}", json!({"type": "printf", "text": text}))?;
                } else {
                    write!(out, "{text}")?;
                }
            }
            Output::Cat(pieces) => {
                let path = self.printer.printf(pieces, &args);
                cat::print(&path, self.json, out)?;
            }
            Output::Emit { keys, format } => {
                if self.json {
                    let mut record = serde_json::Map::new();
                    record.insert("type".into(), json!("record"));
                    for (key, (t, b)) in keys.iter().zip(&args) {
                        record.insert(key.clone(), self.printer.json(t, b));
                    }
                    writeln!(out, "{}", serde_json::Value::Object(record))?;
                } else if let Some(pieces) = format {
                    write!(out, "{}", self.printer.printf(pieces, &args))?;
                } else {
                    let pairs: Vec<String> = keys.iter().zip(&args).map(|(k, (t, b))| format!("{k} {}", self.printer.text(t, b))).collect();
                    writeln!(out, "{}", pairs.join(" "))?;
                }
            }
            Output::Print => {
                if self.json {
                    let values: Vec<_> = args.iter().map(|(t, b)| self.printer.json(t, b)).collect();
                    writeln!(out, "{}", json!({"type": "print", "values": values}))?;
                } else {
                    let values: Vec<String> = args.iter().map(|(t, b)| self.printer.text(t, b)).collect();
                    writeln!(out, "{}", values.join(" "))?;
                }
            }
            Output::Stack => {
                let raw = args.first().map(|(_, b)| u64_at(b, 0)).unwrap_or(u64::MAX);
                let frames = self.printer.stack_of(0, raw);
                if self.json {
                    writeln!(out, "{}", json!({"type": "stack", "frames": frames}))?;
                } else {
                    for f in frames {
                        writeln!(out, "    {}", ntr_lang::visible::escape(&f, &[]))?;
                    }
                    writeln!(out)?;
                }
            }
            Output::PrintMap { map, top } => {
                if let Some(m) = self.maps.get(*map) {
                    m.print(&mut self.printer, *top, self.json, out)?;
                }
            }
            Output::ClearMap { map } => {
                if let Some(m) = self.maps.get(*map) {
                    m.raw.clear();
                }
            }
            Output::Exit => {
                self.exit = true;
                self.exited = true;
            }
            Output::Pcap { snaplen, prefix, keys } => {
                if let Some(capture) = self.capture.as_mut() {
                    let packet = pcap_packet(&mut self.printer, *snaplen, prefix, keys, &args);
                    capture.packet(packet).map_err(std::io::Error::other)?;
                }
            }
        }
        Ok(())
    }

    /// Print the events in the ring buffer; with `until_exit`, stop at
    /// `exit()`, so a flood behind it cannot hold the run (what follows is
    /// counted once the probes are detached).
    fn drain(&mut self, rb: &mut RingBuf<MapData>, out: &mut dyn Write, until_exit: bool) -> std::io::Result<()> {
        while let Some(item) = rb.next() {
            let rec: Vec<u8> = item.to_vec();
            drop(item);
            self.event(&rec, out)?;
            if until_exit && self.exit {
                break;
            }
        }
        out.flush()
    }
}

/// The packet of a `pcap()` record (`tir::Output::Pcap`): its arguments,
/// then the captured length and the bytes.
fn pcap_packet<'a>(printer: &mut Printer, snaplen: u16, prefix: &str, keys: &[String], args: &'a [(Type, Vec<u8>)]) -> pcap::Packet<'a> {
    use ntr_lang::net::*;
    let text = |printer: &mut Printer, i: usize| args.get(i).map(|(t, b)| printer.text(t, b)).unwrap_or_default();
    let int = |i: usize| args.get(i).map(|(_, b)| u64_at(b, 0)).unwrap_or(0);
    let interface = format!("{}@{}", text(printer, PCAP_IFNAME), text(printer, PCAP_NETNS));
    let mut comment = prefix.to_string();
    for (i, key) in keys.iter().enumerate() {
        comment.push_str(&format!(" {key} {}", text(printer, PCAP_COMMENT + i)));
    }
    let n = args.len();
    let bytes = n.checked_sub(1).and_then(|i| args.get(i)).map(|(_, b)| b.as_slice()).unwrap_or_default();
    let caplen = (n.checked_sub(2).map(int).unwrap_or(0) as usize).min(snaplen as usize).min(bytes.len());
    pcap::Packet {
        unix_ns: printer.unix_nanos(int(PCAP_TIME)),
        interface,
        snaplen: snaplen.into(),
        wire_len: int(PCAP_WIRE).min(u32::MAX as u64) as u32,
        data: &bytes[..caplen],
        comment,
    }
}

/// Whether any event or map of the program holds `nfrule` values (which
/// need the rulesets read at start).
fn uses_nfrule(artifact: &Artifact) -> bool {
    let is = |ty: &Type| matches!(ty, Type::NfRule(_) | Type::Cause { .. });
    let in_events = artifact.events.iter().flat_map(|e| &e.fields).any(|f| is(&f.ty));
    let in_maps = artifact.maps.iter().any(|m| m.key.iter().any(|f| is(&f.ty)) || matches!(&m.kind, MapKind::Value(v) if is(v)));
    in_events || in_maps
}

fn poll(fds: &[RawFd], timeout: Duration) {
    let mut pfds: Vec<libc::pollfd> = fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: valid pollfds we own; EINTR (a signal) just ends the wait early.
    unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout.as_millis().min(i32::MAX as u128) as i32) };
}

/// An artifact in the kernel: its programs loaded and attached, its maps
/// and ring buffer owned here so they outlive the programs (detaching
/// keeps every map readable).
pub struct Live {
    session: Session,
    /// `None` once detached.
    ebpf: Option<aya::Ebpf>,
    ringbuf: RingBuf<MapData>,
    counters: RawMap,
    _counters_data: MapData,
    attached: usize,
}

/// With `NTR_RECORD_PROG_IDS` naming a file, the kernel ids of the programs
/// this run loaded are appended to it, one per line: a test can then check
/// that exactly its own programs are gone, while other tracers run.
fn record_loaded(ebpf: &aya::Ebpf) {
    let Some(path) = std::env::var_os("NTR_RECORD_PROG_IDS") else { return };
    let ids: String = ebpf.programs().filter_map(|(_, p)| p.info().ok()).map(|info| format!("{}\n", info.id())).collect();
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&path);
    if let Err(e) = file.and_then(|mut f| f.write_all(ids.as_bytes())) {
        eprintln!("warning: cannot record program ids in {}: {e}", std::path::Path::new(&path).display());
    }
}

impl Live {
    /// Load and attach every probe, then run the `begin` blocks.
    pub fn start(artifact: &Artifact, json: bool, utc: bool, pid: Option<std::num::NonZeroU32>, sizes: Sizes) -> Result<Live, RuntimeError> {
        raise_memlock();
        // The object carries no BTF relocations: the loader needs no kernel BTF
        // (parsing it costs tens of milliseconds and megabytes).
        let mut loader = aya::EbpfLoader::new();
        loader.btf(None);
        if let Some(bytes) = sizes.buffer_bytes {
            loader.map_max_entries(&artifact.ringbuf, bytes);
        }
        if let Some(entries) = sizes.map_size {
            for m in &artifact.maps {
                loader.map_max_entries(&m.symbol, entries);
            }
        }
        let mut ebpf = loader.load(&artifact.elf).map_err(|e| {
            let text = e.to_string();
            if text.contains("Operation not permitted") {
                RuntimeError::Privileges { message: format!("cannot create BPF maps: {text}: ntr needs root, or CAP_BPF and CAP_PERFMON") }
            } else {
                RuntimeError::Other(format!("cannot load the BPF object: {text}"))
            }
        })?;
        let ring = ebpf.take_map(&artifact.ringbuf).ok_or_else(|| RuntimeError::Other("ring buffer missing from the object".into()))?;
        let ringbuf = RingBuf::try_from(ring).map_err(|e| RuntimeError::Other(e.to_string()))?;
        let counters_data = take(&mut ebpf, &artifact.counters)?;
        let cpus = cpus::possible().map_err(RuntimeError::Other)?;
        let counters = RawMap::new(raw_fd(&counters_data), 4, 8, Some(cpus));
        let mut user_maps = Vec::new();
        for info in &artifact.maps {
            let data = take(&mut ebpf, &info.symbol)?;
            let raw = RawMap::new(raw_fd(&data), info.key_size, info.value_size, info.per_cpu.then_some(cpus));
            user_maps.push(UserMap { info: info.clone(), raw, _data: data });
        }
        let mut stacks = Vec::new();
        for (depth, sym) in &artifact.stack_maps {
            let map = StackTraceMap::try_from(Map::StackTraceMap(take(&mut ebpf, sym)?)).map_err(|e| RuntimeError::Other(e.to_string()))?;
            stacks.push((*depth, map));
        }
        let session = Session {
            artifact: artifact.clone(),
            json,
            printer: Printer::new(artifact.enums.clone(), stacks, uses_nfrule(artifact).then(net::RuleWatch::start), clock::WallClock::new(utc)),
            maps: user_maps,
            events: 0,
            exit: false,
            exited: false,
            after_exit: 0,
            capture: None,
        };
        if let Some(symbol) = &artifact.start {
            write_start(&mut ebpf, symbol)?;
        }
        let mut attached = 0;
        for p in &artifact.programs {
            let loaded = attach::load_and_attach(&mut ebpf, p, pid);
            if loaded.is_err() {
                record_loaded(&ebpf);
            }
            loaded?;
            if !matches!(p.attach, Attach::Begin | Attach::End) {
                attached += 1;
            }
        }
        record_loaded(&ebpf);
        for p in artifact.programs.iter().filter(|p| p.attach == Attach::Begin) {
            attach::test_run(&ebpf, p)?;
        }
        Ok(Live { session, ebpf: Some(ebpf), ringbuf, counters, _counters_data: counters_data, attached })
    }

    /// Probes attached (not counting `begin` and `end`).
    pub fn attached(&self) -> usize {
        self.attached
    }

    pub fn is_attached(&self) -> bool {
        self.ebpf.is_some()
    }

    /// Events received so far.
    pub fn events(&self) -> u64 {
        self.session.events
    }

    /// Events not printed because they came after `exit()`.
    pub fn after_exit(&self) -> u64 {
        self.session.after_exit
    }

    /// Whether a probe called `exit()`.
    pub fn exit_requested(&self) -> bool {
        self.session.exit
    }

    /// Print the events waiting in the ring buffer, up to an `exit()`.
    pub fn drain(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        self.drain_events(out, true)
    }

    /// Print the events waiting in the ring buffer (with `until_exit`, up to
    /// an `exit()`), and note the processes whose user stacks the maps hold
    /// while they still run.
    fn drain_events(&mut self, out: &mut dyn Write, until_exit: bool) -> std::io::Result<()> {
        self.session.drain(&mut self.ringbuf, out, until_exit)?;
        let Session { maps, printer, .. } = &mut self.session;
        for m in maps.iter() {
            for f in m.info.key.iter().filter(|f| matches!(f.ty, Type::UStack | Type::USym)) {
                // A user stack's pid is its upper half; a usym's, its first word.
                let at = f.offset as usize + if f.ty == Type::UStack { 4 } else { 0 };
                for key in m.raw.keys() {
                    let pid = key.get(at..at + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    if let Some(pid) = pid.filter(|p| *p != 0) {
                        printer.syms.remember(pid);
                    }
                }
            }
        }
        Ok(())
    }

    /// Wait up to `timeout` for events, or for `also` to be readable.
    pub fn wait(&self, timeout: Duration, also: Option<RawFd>) {
        let mut fds = vec![self.ringbuf.as_raw_fd()];
        fds.extend(also);
        poll(&fds, timeout);
    }

    /// The exported maps as an OpenMetrics exposition, read now.
    pub fn metrics(&mut self, limit: &mut metrics::SeriesLimit) -> Result<String, String> {
        let Session { maps, printer, .. } = &mut self.session;
        metrics::encode(metrics::families(maps, printer), limit)
    }

    /// Run the `end` blocks, detach every probe, print the last events.
    pub fn detach(&mut self, out: &mut dyn Write) -> Result<(), RuntimeError> {
        let Some(ebpf) = self.ebpf.take() else { return Ok(()) };
        for p in self.session.artifact.programs.iter().filter(|p| p.attach == Attach::End) {
            attach::test_run(&ebpf, p)?;
        }
        attach::detach_all(ebpf, &self.session.artifact.programs);
        self.session.exit = false;
        self.drain_events(out, false).map_err(|e| RuntimeError::Other(format!("cannot write output: {e}")))
    }

    /// Print every non-empty map but the internal ones (`@_name`).
    pub fn print_maps(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        let Session { maps, printer, json, .. } = &mut self.session;
        // Rows in large writes: a terminal's stdout flushes every line.
        let mut out = std::io::BufWriter::with_capacity(64 << 10, out);
        for m in maps.iter().filter(|m| !m.is_empty() && !m.is_internal()) {
            m.print(printer, None, *json, &mut out)?;
        }
        out.flush()
    }

    /// Folded stacks of the maps keyed by stacks.
    pub fn folded(&mut self) -> Vec<String> {
        folded::folded(&self.session.maps, &mut self.session.printer)
    }

    /// Print map `name` (`@drops`); false when there is none.
    pub fn print_map(&mut self, name: &str, out: &mut dyn Write) -> std::io::Result<bool> {
        let Session { maps, printer, json, .. } = &mut self.session;
        match maps.iter().find(|m| m.display_name() == name) {
            Some(m) => m.print(printer, None, *json, out).map(|_| true),
            None => Ok(false),
        }
    }

    /// Empty map `name`; false when there is none.
    pub fn clear_map(&self, name: &str) -> bool {
        match self.session.maps.iter().find(|m| m.display_name() == name) {
            Some(m) => {
                m.raw.clear();
                true
            }
            None => false,
        }
    }

    /// Event records and map entries skipped because they did not fit
    /// their layout.
    pub fn malformed(&self) -> u64 {
        self.session.printer.malformed
    }

    /// Counter `index` of the counters map, summed over the CPUs.
    fn counter(&self, index: u32) -> u64 {
        self.counters.get(&index.to_ne_bytes()).map(|v| per_cpu_u64(&v, 8, 0).sum::<u64>()).unwrap_or(0)
    }

    /// How many times the probes ran, where the artifact counts it
    /// (`compile_with(…, true)`, the REPL's).
    pub fn hits(&self) -> Option<u64> {
        let a = &self.session.artifact;
        a.hit_counters.then(|| (0..a.programs.len()).map(|i| self.counter(ntr_compiler::artifact::hit_counter(a.maps.len(), i))).sum())
    }

    /// Events lost to a full ring buffer, and the updates each of the
    /// artifact's `maps` dropped because it was full.
    pub fn losses(&self, maps: usize) -> (u64, Vec<u64>) {
        (self.counter(LOST_EVENTS), (0..maps).map(|i| self.counter(map_full_counter(i))).collect())
    }
}

/// `--folded` and `--flamegraph`.
fn write_stacks(live: &mut Live, opts: &RunOptions) -> Result<(), RuntimeError> {
    let lines = live.folded();
    if lines.is_empty() {
        return Err(RuntimeError::Other("no stacks to draw: key a count() map by kstack or ustack, e.g. `@[kstack] = count()`".into()));
    }
    let write = |path: &std::path::Path, f: &dyn Fn(std::fs::File) -> Result<(), String>| {
        let file = std::fs::File::create(path).map_err(|e| RuntimeError::Other(format!("cannot write {}: {e}", path.display())))?;
        f(file).map_err(|e| RuntimeError::Other(format!("cannot write {}: {e}", path.display())))
    };
    if let Some(path) = &opts.folded {
        write(path, &|mut file| lines.iter().try_for_each(|l| writeln!(file, "{l}")).map_err(|e| e.to_string()))?;
    }
    if let Some(path) = &opts.flamegraph {
        write(path, &|file| folded::flamegraph(&lines, "ntr", std::io::BufWriter::new(file)))?;
    }
    Ok(())
}

/// Load, attach, stream events until exit()/duration/signal, then print maps.
pub fn run(artifact: &Artifact, opts: &RunOptions, out: &mut dyn Write) -> Result<RunSummary, RuntimeError> {
    let signals = Signals::install();
    // Listening first: an address in use fails before anything is loaded.
    let server = match opts.metrics {
        Some((addr, _)) => Some(metrics::Server::start(addr).map_err(RuntimeError::Other)?),
        None => None,
    };
    let mut limit = metrics::SeriesLimit { max: opts.metrics.map(|(_, max)| max).unwrap_or(0), dropped: 0 };
    // Created first too: a file that cannot be written fails before loading.
    let capture = opts.pcap.as_ref().map(pcap::Capture::create).transpose().map_err(RuntimeError::Other)?;
    let mut live = Live::start(artifact, opts.json, opts.utc, opts.pid, Sizes { buffer_bytes: opts.buffer_bytes, map_size: opts.map_size })?;
    live.session.capture = capture;
    let attached = live.attached();
    eprintln!("Attached {attached} probe{}. Ctrl-C to stop.", if attached == 1 { "" } else { "s" });
    if let Some(s) = &server {
        eprintln!("Serving metrics on http://{}/metrics", s.addr);
    }
    if let Some(c) = &opts.command {
        c.release();
    }
    let io = |e: std::io::Error| RuntimeError::Other(format!("cannot write output: {e}"));
    let started = Instant::now();
    let reason = loop {
        live.drain(out).map_err(io)?;
        if live.exit_requested() {
            break ExitReason::ExitCalled;
        }
        if signals.flag.load(Ordering::SeqCst) {
            break ExitReason::Signal(signals.which.load(Ordering::SeqCst));
        }
        if let Some(status) = opts.command.as_ref().and_then(|c| c.exited()) {
            // What it did last may still be in the ring buffer.
            live.drain(out).map_err(io)?;
            break ExitReason::CommandExited(status);
        }
        let wait = match opts.duration {
            Some(d) if started.elapsed() >= d => break ExitReason::Duration,
            Some(d) => d.saturating_sub(started.elapsed()).min(Duration::from_millis(100)),
            None => Duration::from_millis(100),
        };
        live.wait(wait, server.as_ref().map(|s| s.fd()));
        if let Some(s) = &server {
            s.answer(|| live.metrics(&mut limit));
        }
    };
    drop(server);
    live.detach(out)?;
    if let (Some(c), ExitReason::CommandExited(status)) = (&opts.command, &reason) {
        if *status != 0 {
            eprintln!("ntr: `{}` exited with status {status}", c.line);
        }
    }
    live.print_maps(out).map_err(io)?;
    if opts.folded.is_some() || opts.flamegraph.is_some() {
        write_stacks(&mut live, opts)?;
    }
    let (lost, full_by_map) = live.losses(artifact.maps.len());
    let full: u64 = full_by_map.iter().sum();
    match live.after_exit() {
        0 => {}
        1 => eprintln!("ntr: 1 event after exit() not printed"),
        n => eprintln!("ntr: {n} events after exit() not printed"),
    }
    if lost > 0 {
        eprintln!("ntr: {lost} events lost: the ring buffer was full (raise its size with --buffer-size, e.g. --buffer-size 8M)");
    }
    for (m, dropped) in artifact.maps.iter().zip(&full_by_map).filter(|(_, n)| **n > 0) {
        let size = opts.map_size.unwrap_or(m.max_entries);
        let name = format!("@{}", m.name);
        eprintln!("ntr: {dropped} updates to {name} dropped: it was full at {size} entries (raise the size of every map with --map-size, e.g. --map-size {})", size * 4);
    }
    if let Some(capture) = live.session.capture.as_mut() {
        capture.finish().map_err(RuntimeError::Other)?;
        let file = capture.path().display();
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        eprintln!("ntr: {} packet{} written to {file}", capture.written, plural(capture.written));
        if capture.not_written > 0 {
            let limit = opts.pcap.as_ref().map(|p| p.limit).unwrap_or_default();
            eprintln!(
                "ntr: {} packet{} not written to {file}: it reached its limit of {limit} bytes (raise it with --pcap-limit, e.g. --pcap-limit {}M)",
                capture.not_written,
                plural(capture.not_written),
                (limit >> 20).max(1) * 4
            );
        }
    }
    let malformed = live.malformed();
    if malformed > 0 {
        eprintln!("ntr: {malformed} malformed records skipped: they did not fit their layout");
    }
    let lookups = live.session.printer.facts.lookups;
    if opts.verbose && lookups > 0 {
        eprintln!("ntr: {lookups} facts looked up for cause lines (each once per namespace and question)");
    }
    if opts.json {
        let mut summary = json!({
            "type": "summary",
            "events": live.events(),
            "lost_events": lost,
            "map_full": full,
            "map_full_by_map": artifact.maps.iter().zip(&full_by_map).filter(|(_, n)| **n > 0)
                .map(|(m, n)| (format!("@{}", m.name), json!(n))).collect::<serde_json::Map<_, _>>(),
            "malformed": malformed,
            "after_exit": live.after_exit(),
            "fact_lookups": lookups
        });
        if let Some(c) = &live.session.capture {
            summary["pcap_written"] = json!(c.written);
            summary["pcap_not_written"] = json!(c.not_written);
        }
        writeln!(out, "{summary}").map_err(io)?;
    }
    drop(signals);
    Ok(RunSummary { events: live.events(), lost_events: lost, map_full: full, exit_reason: reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntr_compiler::artifact::{EventInfo, EVENT_HEADER};
    use ntr_compiler::codegen::layout;
    use ntr_lang::tir::FmtPiece;
    use ntr_lang::types::EnumDef;

    /// A session printing events laid out as the compiler lays them out:
    /// `print` of one value of most types, a `printf`, and `emit`s.
    fn session(json: bool) -> Session {
        let print_types = vec![
            Type::U32,
            Type::Str { len: 16 },
            Type::Ip4,
            Type::Ip6,
            Type::Tuple,
            Type::Flow,
            Type::Ct,
            Type::Enum(0),
            Type::Flags(0),
            Type::Duration,
            Type::Bool,
            Type::Addr,
            Type::KStack(0),
            Type::NfRule(0),
            Type::S64,
        ];
        let printf_types = vec![Type::Str { len: 12 }, Type::S64];
        let event = |output, types: &[Type]| {
            let (fields, size) = layout::fields(types, EVENT_HEADER);
            EventInfo { output, fields, size, span: Default::default(), from_end: false }
        };
        let pieces = vec![
            FmtPiece::Arg { conv: 's', spec: "-8".into() },
            FmtPiece::Lit(" ".into()),
            FmtPiece::Arg { conv: 'c', spec: String::new() },
            FmtPiece::Lit("\n".into()),
        ];
        let enums = vec![EnumDef { name: "ct_state".into(), values: vec![(0, "ESTABLISHED".into()), (2, "NEW".into())] }];
        let artifact = Artifact {
            elf: Vec::new(),
            programs: Vec::new(),
            maps: Vec::new(),
            events: vec![
                event(Output::Print, &print_types),
                event(Output::Printf(pieces.clone()), &printf_types),
                event(Output::Emit { keys: vec!["name".into(), "n".into()], format: None }, &printf_types),
                event(Output::Emit { keys: vec!["name".into(), "n".into()], format: Some(pieces) }, &printf_types),
                event(Output::Emit { keys: vec!["time".into()], format: None }, &[Type::Time]),
            ],
            enums: enums.clone(),
            ringbuf: String::new(),
            stack_maps: Vec::new(),
            counters: String::new(),
            start: None,
            hit_counters: false,
        };
        Session {
            artifact,
            json,
            printer: Printer::new(enums, Vec::new(), None, clock::WallClock::fixed(0, jiff::tz::TimeZone::UTC)),
            maps: Vec::new(),
            events: 0,
            exit: false,
            exited: false,
            after_exit: 0,
            capture: None,
        }
    }

    /// A record of event `id` with `size` bytes, filled with a pattern.
    fn record(id: u32, size: u32) -> Vec<u8> {
        let mut rec: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        rec[..4].copy_from_slice(&id.to_ne_bytes());
        rec[4..8].fill(0);
        rec
    }

    #[test]
    fn every_truncated_record_is_counted_and_skipped() {
        for json in [false, true] {
            let mut s = session(json);
            for id in 0..s.artifact.events.len() {
                let size = s.artifact.events[id].size;
                let full = record(id as u32, size);
                let mut out = Vec::new();
                s.event(&full, &mut out).unwrap();
                assert!(!out.is_empty(), "event {id} printed nothing");
                let (printed, skipped) = (s.events, s.printer.malformed);
                for len in 0..full.len() {
                    let mut out = Vec::new();
                    s.event(&full[..len], &mut out).unwrap();
                    assert!(out.is_empty(), "event {id} cut to {len} bytes printed {:?}", String::from_utf8_lossy(&out));
                }
                assert_eq!(s.printer.malformed - skipped, size as u64, "every truncation of event {id} counted");
                assert_eq!(s.events, printed);
            }
        }
    }

    #[test]
    fn random_records_print_or_are_counted() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for json in [false, true] {
            let mut s = session(json);
            let longest = s.artifact.events.iter().map(|e| e.size).max().unwrap() as u64;
            let tries = 3000;
            for _ in 0..tries {
                let len = (next() % (longest * 2)) as usize;
                let mut rec: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if len >= 4 {
                    // Mostly known events (0 to 4), some unknown (5, 6).
                    rec[..4].copy_from_slice(&((next() % 7) as u32).to_ne_bytes());
                }
                let mut out = Vec::new();
                let skipped = s.printer.malformed;
                s.event(&rec, &mut out).unwrap();
                let fits = decode::event(&s.artifact.events, &rec).is_some();
                assert_eq!(s.printer.malformed - skipped, !fits as u64, "{rec:?}");
                assert_eq!(out.is_empty(), !fits, "{rec:?}");
            }
            assert_eq!(s.events + s.printer.malformed, tries);
            assert!(s.events > 0 && s.printer.malformed > 0);
        }
    }
}
