//! Code generation: each probe of the typed program becomes one IR
//! function (`lower.rs`), then the backend allocates registers and encodes
//! it, and everything is packed into the ELF object and the `Artifact` the
//! runtime needs.

mod builder;
pub mod layout;
mod lower;
mod stacks;

use ntr_lang::tir::{Attach, MapKind, Program};

use crate::artifact::{counters, hit_counter, Artifact, MapInfo, ProgramInfo};
use crate::elf::{self, MapDef, ProgramDef};
use crate::error::CompileError;

pub const RINGBUF: &str = "ntr_events";
/// The stack-trace map for stacks of `depth` frames (0: the full depth):
/// the kernel walks only as many frames as the map's values hold.
pub fn stack_map(depth: u8) -> String {
    if depth == 0 {
        "ntr_stacks".into()
    } else {
        format!("ntr_stacks_{depth}")
    }
}
pub const COUNTERS_MAP: &str = "ntr_counters";
/// One `u64`: the monotonic time the run started, for `elapsed`.
pub const START_MAP: &str = "ntr_start";
pub const SCRATCH: &str = "ntr_scratch";

const HASH: u32 = 1;
const ARRAY: u32 = 2;
const PERCPU_HASH: u32 = 5;
const PERCPU_ARRAY: u32 = 6;
const STACK_TRACE: u32 = 7;
const RINGBUF_TYPE: u32 = 27;

const MAX_ENTRIES: u32 = 10240;
/// Maps one BPF program may use (the kernel's MAX_USED_MAPS).
const MAX_MAPS_PER_PROGRAM: usize = 64;
/// The ring buffer of a script that prints: enough for bursts at the
/// reader's poll interval, small enough to map cheaply (`--buffer-size`
/// raises it at load).
pub const DEFAULT_RINGBUF_BYTES: u32 = 512 << 10;
/// A script that prints nothing still gets a ring buffer (one page, the
/// least the kernel takes): the runtime reads every script the same way.
const IDLE_RINGBUF_BYTES: u32 = 4096;
pub const STACK_DEPTH: u32 = 127;

/// ELF section of a probe's program.
fn section(attach: &Attach) -> String {
    match attach {
        Attach::Begin => "raw_tp/ntr_begin".into(),
        Attach::End => "raw_tp/ntr_end".into(),
        Attach::Every { .. } | Attach::Profile { .. } => "perf_event".into(),
        Attach::TpBtf { name, .. } => format!("tp_btf/{name}"),
        Attach::Tracepoint { category, name } => format!("tracepoint/{category}/{name}"),
        Attach::RawTracepoint { name } => format!("raw_tp/{name}"),
        Attach::Kprobe { function, .. } => format!("kprobe/{function}"),
        Attach::Kretprobe { function } => format!("kretprobe/{function}"),
        Attach::Fentry { function, .. } => format!("fentry/{function}"),
        Attach::Fexit { function, .. } => format!("fexit/{function}"),
        Attach::Uprobe { symbol, ret: false, .. } => format!("uprobe/{symbol}"),
        Attach::Uprobe { symbol, ret: true, .. } => format!("uretprobe/{symbol}"),
    }
}

fn symbol(i: usize, probe: &str) -> String {
    let clean: String = probe.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("ntr_p{i}_{clean}")
}

/// Compile a checked program.
pub fn compile(program: &Program) -> Result<Artifact, CompileError> {
    compile_with(program, false)
}

/// Compile a checked program; with `count_hits`, each probe counts its runs
/// in the counters map (`Artifact::hit_counters`), for the REPL.
pub fn compile_with(program: &Program, count_hits: bool) -> Result<Artifact, CompileError> {
    let maps: Vec<MapInfo> = program
        .maps
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (key, key_size) = layout::map_key(&m.keys, &m.kind);
            let per_cpu = matches!(m.kind, MapKind::Agg { .. });
            MapInfo {
                symbol: format!("ntr_m{i}"),
                name: m.name.clone(),
                kind: m.kind.clone(),
                key,
                labels: m.labels.clone(),
                key_size,
                value_size: layout::map_value_size(&m.kind),
                per_cpu,
                max_entries: MAX_ENTRIES,
                span: m.span,
            }
        })
        .collect();
    let mut events = Vec::new();
    let mut programs = Vec::new();
    let mut scratch = 0;
    let mut stacks: Vec<u8> = Vec::new();
    let mut uses_elapsed = false;
    for (i, probe) in program.probes.iter().enumerate() {
        let sym = symbol(i, &probe.name);
        let hits = count_hits.then(|| hit_counter(maps.len(), i));
        let out = lower::lower(probe, &sym, &maps, &mut events, hits)?;
        scratch = scratch.max(out.scratch_size);
        for d in &out.stack_depths {
            if !stacks.contains(d) {
                stacks.push(*d);
            }
        }
        let code = crate::encode::compile(out.function)?;
        // The verifier's MAX_USED_MAPS: more in one program fails to load.
        let used: std::collections::HashSet<&str> = code.map_relocs.iter().map(|(_, m)| m.as_str()).collect();
        if used.len() > MAX_MAPS_PER_PROGRAM {
            return Err(CompileError::TooManyMaps { span: probe.span, used: used.len() });
        }
        uses_elapsed |= used.contains(START_MAP);
        programs.push(ProgramInfo {
            symbol: sym,
            section: section(&probe.attach),
            attach: probe.attach.clone(),
            probe: probe.name.clone(),
            span: probe.span,
            insns: code.insns,
            insn_spans: code.spans,
            map_loads: code.map_relocs,
        });
    }
    let mut defs: Vec<MapDef> = maps
        .iter()
        .map(|m| MapDef {
            symbol: m.symbol.clone(),
            map_type: if m.per_cpu { PERCPU_HASH } else { HASH },
            key_size: m.key_size,
            value_size: m.value_size,
            max_entries: m.max_entries,
            flags: 0,
        })
        .collect();
    let def = |symbol: &str, map_type, key_size, value_size, max_entries| MapDef {
        symbol: symbol.into(),
        map_type,
        key_size,
        value_size,
        max_entries,
        flags: 0,
    };
    let ringbuf_bytes = if events.is_empty() { IDLE_RINGBUF_BYTES } else { DEFAULT_RINGBUF_BYTES };
    defs.push(def(RINGBUF, RINGBUF_TYPE, 0, 0, ringbuf_bytes));
    let counter_entries = if count_hits { hit_counter(maps.len(), programs.len()) } else { counters(maps.len()) };
    defs.push(def(COUNTERS_MAP, PERCPU_ARRAY, 4, 8, counter_entries));
    if uses_elapsed {
        defs.push(def(START_MAP, ARRAY, 4, 8, 1));
    }
    for &depth in &stacks {
        let frames = if depth == 0 { STACK_DEPTH } else { depth as u32 };
        defs.push(def(&stack_map(depth), STACK_TRACE, 4, frames * 8, 4096));
    }
    if scratch > 0 {
        defs.push(def(SCRATCH, PERCPU_ARRAY, 4, scratch.div_ceil(8) * 8, 1));
    }
    let prog_defs: Vec<ProgramDef> =
        programs.iter().map(|p| ProgramDef { section: &p.section, symbol: &p.symbol, insns: &p.insns, map_relocs: &p.map_loads }).collect();
    let elf = elf::write(&prog_defs, &defs, "GPL");
    Ok(Artifact {
        elf,
        programs,
        maps,
        events,
        enums: program.enums.clone(),
        ringbuf: RINGBUF.into(),
        stack_maps: stacks.iter().map(|&d| (d, stack_map(d))).collect(),
        counters: COUNTERS_MAP.into(),
        start: uses_elapsed.then(|| START_MAP.into()),
        hit_counters: count_hits,
    })
}
