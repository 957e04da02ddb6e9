//! What the compiler hands to the runtime: the ELF object plus everything
//! needed to attach its programs and make sense of what comes back. The
//! runtime never looks at the AST or the typed program.

use ntr_lang::source::Span;
use ntr_lang::tir::{Attach, MapKind, Output};
use ntr_lang::types::{EnumDef, Type};

use crate::bpf::Insn;

/// Every event record starts with this header: `u32` event id, `u32` zero.
pub const EVENT_HEADER: u32 = 8;

#[derive(Clone, Debug)]
pub struct Artifact {
    pub elf: Vec<u8>,
    pub programs: Vec<ProgramInfo>,
    pub maps: Vec<MapInfo>,
    /// Indexed by event id.
    pub events: Vec<EventInfo>,
    pub enums: Vec<EnumDef>,
    /// Symbol of the ring buffer every program writes events to.
    pub ringbuf: String,
    /// The stack-trace maps programs take stacks into: (depth in frames,
    /// 0 = full; symbol).
    pub stack_maps: Vec<(u8, String)>,
    /// Symbol of a per-CPU array of `u64` counters that make losses visible:
    /// index `LOST_EVENTS` counts events dropped because the ring buffer was
    /// full, `map_full_counter(i)` updates of map `i` that failed because it
    /// was full.
    pub counters: String,
    /// Symbol of a one-entry array the runtime writes the run's start
    /// (CLOCK_MONOTONIC ns) into before attaching, when a probe reads `elapsed`.
    pub start: Option<String>,
    /// Whether each program counts its runs at `hit_counter(maps, program)`
    /// of the counters map.
    pub hit_counters: bool,
}

/// Indexes into the `counters` map.
pub const LOST_EVENTS: u32 = 0;

/// The counter of updates to map `index` (of `Artifact::maps`) dropped
/// because it was full.
pub fn map_full_counter(index: usize) -> u32 {
    1 + index as u32
}

/// The counter of runs of program `index`, after the maps' (where the
/// artifact counts them).
pub fn hit_counter(maps: usize, index: usize) -> u32 {
    counters(maps) + index as u32
}

/// Entries of the counters map for `maps` maps.
pub fn counters(maps: usize) -> u32 {
    map_full_counter(maps)
}

#[derive(Clone, Debug)]
pub struct ProgramInfo {
    /// ELF symbol = kernel program name.
    pub symbol: String,
    /// ELF section (`tp_btf/kfree_skb`, `raw_tp/…`).
    pub section: String,
    pub attach: Attach,
    /// The probe as the user wrote it: `tracepoint:skb:kfree_skb`.
    pub probe: String,
    pub span: Span,
    /// The instructions, and the source span each came from (same length).
    pub insns: Vec<Insn>,
    pub insn_spans: Vec<Span>,
    /// (instruction index, map symbol) of each map load, for `--dump`.
    pub map_loads: Vec<(usize, String)>,
}

/// A field of a map key or event record.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub ty: Type,
    pub offset: u32,
}

/// A user map (`@name`).
///
/// Value layouts by kind: count/sum: `u64`; min/max: `[u64 value, u64 set]`;
/// avg: `[s64 sum, u64 count]`; hist/lhist: `u64` count, with a trailing `u64`
/// bucket index in the key (hist: 0 = negative, 1 = zero, k+2 = [2^k, 2^(k+1));
/// lhist: 0 = below lo, i+1 = [lo+i*step, lo+(i+1)*step), last = ≥ hi);
/// plain values: the value's type at offset 0. Aggregations use per-CPU maps:
/// the runtime sums (min/max/avg: combines) the CPUs' values.
#[derive(Clone, Debug)]
pub struct MapInfo {
    pub symbol: String,
    /// Without `@`; empty for `@`.
    pub name: String,
    pub kind: MapKind,
    /// The user's key fields (not the hist bucket).
    pub key: Vec<Field>,
    /// The metrics label of each key field.
    pub labels: Vec<String>,
    pub key_size: u32,
    pub value_size: u32,
    pub per_cpu: bool,
    pub max_entries: u32,
    pub span: Span,
}

/// An event record format: what a `printf`, `print`, `stack()`, `exit()`… in
/// the kernel sends.
#[derive(Clone, Debug)]
pub struct EventInfo {
    pub output: Output,
    /// Sent by an `end` block: printed even after `exit()`.
    pub from_end: bool,
    pub fields: Vec<Field>,
    pub size: u32,
    pub span: Span,
}
