//! Decoding from arbitrary bytes, for the decoder fuzz target (`fuzz/`)
//! and the test that replays its seeds: the bytes choose the field types,
//! how they are printed, and the event records or map entries that follow;
//! they are then printed as a run prints them (`print`).
//!
//! Layout of an input:
//!
//! | byte | meaning |
//! |---|---|
//! | 0 | bit 0: JSON; bit 1: map entries, else event records |
//! | 1 | CPUs of per-CPU values: 1 + b % 4 |
//! | 2 | number of fields: 1 + b % 4 |
//! | 3… | one type per field, an index into `TYPES` (mod its length) |
//! | next | printf conversion (events) or map kind (maps), an index |
//! | rest | records `[u16 LE length][bytes]`, or entries `[u16 key length][key][u16 value length][value]`; a length past the end takes what is left |
//!
//! Events: the artifact has one event per output (`print`, `printf`,
//! `emit`, `emit` with a format, `stack()`, `exit()`), ids 0 to 5, all of
//! the chosen fields: a record's first 4 bytes pick the event.

use ntr_compiler::artifact::{Artifact, EventInfo, MapInfo, EVENT_HEADER};
use ntr_compiler::codegen::layout;
use ntr_lang::kernel::KType;
use ntr_lang::tir::{AggFunc, FmtPiece, MapKind, Output};
use ntr_lang::types::{EnumDef, Type};

/// Every type a value printed from the kernel can have.
fn types() -> Vec<Type> {
    let mut types = Vec::new();
    for size in [1, 2, 4, 8] {
        for signed in [false, true] {
            types.push(Type::Int { size, signed });
        }
    }
    types.extend([
        Type::Bool,
        Type::Str { len: 1 },
        Type::Str { len: 16 },
        Type::Str { len: 64 },
        Type::Addr,
        Type::Sym,
        Type::Ptr { target: Box::new(KType::Void), trusted: false },
        Type::Enum(0),
        Type::Enum(7),
        Type::Duration,
        Type::Time,
        Type::Ip4,
        Type::Ip6,
        Type::KStack(0),
        Type::KStack(3),
        Type::UStack,
        Type::Tuple,
        Type::Flow,
        Type::Ct,
        Type::Netns,
        Type::NfHook(0),
        Type::NfRule(0),
        Type::Cause { depth: 0, reason: 0 },
        Type::Flags(1),
        Type::Void,
        // Types added later go last: a seed names its types by index.
        Type::TimeText("%Y-%m-%d %H:%M:%S%.6f %z".into()),
    ]);
    types
}

const CONVERSIONS: [char; 8] = ['d', 'i', 'u', 'x', 'X', 'p', 'c', 's'];

fn map_kinds(first: &Type) -> Vec<MapKind> {
    let agg = |func| MapKind::Agg { func, arg: Type::S64 };
    vec![
        agg(AggFunc::Count),
        agg(AggFunc::Sum),
        agg(AggFunc::Min),
        agg(AggFunc::Max),
        agg(AggFunc::Avg),
        MapKind::Agg { func: AggFunc::Min, arg: Type::Time },
        agg(AggFunc::Hist),
        agg(AggFunc::Lhist { lo: 0, hi: 2000, step: 500 }),
        agg(AggFunc::Lhist { lo: -10, hi: 10, step: 3 }),
        MapKind::Value(first.clone()),
    ]
}

/// What an input asks for: an artifact, the records or entries to print,
/// and how.
struct Input<'a> {
    artifact: Artifact,
    records: Vec<&'a [u8]>,
    /// Entries of the artifact's one map (empty when printing events).
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    cpus: usize,
    json: bool,
}

/// Bytes taken one piece at a time; past the end, zeros and empty slices.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map(|(b, r)| (*b, r)).unwrap_or((0, &[]));
        self.0 = rest;
        b
    }

    fn chunk(&mut self) -> &'a [u8] {
        let len = u16::from_le_bytes([self.byte(), self.byte()]) as usize;
        let (chunk, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        chunk
    }
}

/// Read an input (see the module's documentation).
fn input(data: &[u8]) -> Input<'_> {
    let mut r = Reader(data);
    let (mode, cpus, n) = (r.byte(), 1 + r.byte() as usize % 4, 1 + r.byte() as usize % 4);
    let all = types();
    let fields: Vec<Type> = (0..n).map(|_| all[r.byte() as usize % all.len()].clone()).collect();
    let choice = r.byte() as usize;
    let enums = vec![
        EnumDef { name: "skb_drop_reason".into(), values: vec![(2, "NO_SOCKET".into()), (6, "NETFILTER_DROP".into())] },
        EnumDef { name: "tcp_flags".into(), values: vec![(0, "FIN".into()), (1, "SYN".into()), (63, "HIGH".into())] },
    ];
    let mut artifact = Artifact {
        elf: Vec::new(),
        programs: Vec::new(),
        maps: Vec::new(),
        events: Vec::new(),
        enums,
        ringbuf: String::new(),
        stack_maps: Vec::new(),
        counters: String::new(),
        start: None,
        hit_counters: false,
    };
    let (mut records, mut entries) = (Vec::new(), Vec::new());
    if mode & 2 == 0 {
        let conv = CONVERSIONS[choice % CONVERSIONS.len()];
        let pieces: Vec<FmtPiece> = fields
            .iter()
            .flat_map(|_| [FmtPiece::Arg { conv, spec: if choice & 8 != 0 { "-6.3".into() } else { "08".into() } }, FmtPiece::Lit(" ".into())])
            .collect();
        let keys: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
        let outputs = [
            Output::Print,
            Output::Printf(pieces.clone()),
            Output::Emit { keys: keys.clone(), format: None },
            Output::Emit { keys, format: Some(pieces) },
            Output::Stack,
            Output::Exit,
        ];
        let (layout, size) = layout::fields(&fields, EVENT_HEADER);
        artifact.events =
            outputs.into_iter().map(|output| EventInfo { output, from_end: false, fields: layout.clone(), size, span: Default::default() }).collect();
        while !r.0.is_empty() {
            records.push(r.chunk());
        }
    } else {
        let kinds = map_kinds(&fields[0]);
        let kind = kinds[choice % kinds.len()].clone();
        let (key, key_size) = layout::map_key(&fields, &kind);
        let per_cpu = matches!(kind, MapKind::Agg { .. });
        let labels = (0..key.len()).map(|i| format!("key{i}")).collect();
        artifact.maps.push(MapInfo {
            symbol: "ntr_m0".into(),
            name: "m".into(),
            value_size: layout::map_value_size(&kind),
            kind,
            key,
            labels,
            key_size,
            per_cpu,
            max_entries: 1024,
            span: Default::default(),
        });
        while !r.0.is_empty() {
            entries.push((r.chunk().to_vec(), r.chunk().to_vec()));
        }
    }
    Input { artifact, records, entries, cpus, json: mode & 1 != 0 }
}

/// Print an input as a run prints its records and maps, but with no
/// kernel (times in UTC from a clock booted at the epoch); returns how many
/// records or entries did not fit their layout (counted and skipped, as in
/// a run).
pub fn print(data: &[u8], out: &mut dyn std::io::Write) -> std::io::Result<u64> {
    thread_local! {
        // Read once: kallsyms takes longer to read than the rest to print.
        static SYMBOLS: std::cell::RefCell<crate::symbols::KernelSymbols> = Default::default();
    }
    let Input { artifact, records, entries, cpus, json } = input(data);
    let clock = crate::clock::WallClock::fixed(0, jiff::tz::TimeZone::UTC);
    let mut printer = crate::Printer::new(artifact.enums.clone(), Vec::new(), None, clock);
    SYMBOLS.with(|s| std::mem::swap(&mut printer.syms, &mut s.borrow_mut()));
    let mut session =
        crate::Session { printer, artifact, json, maps: Vec::new(), events: 0, exit: false, exited: false, after_exit: 0, capture: None };
    for rec in records {
        session.event(rec, out)?;
    }
    for info in &session.artifact.maps {
        let value_size = crate::RawMap::new(-1, info.key_size, info.value_size, info.per_cpu.then_some(cpus)).value_size;
        // Entries of other sizes than the kernel returns (per-CPU values
        // expanded) are counted and left out.
        let mut fitting = crate::rawmap::Entries::new(info.key_size as usize, value_size);
        for (k, v) in &entries {
            if !fitting.push(k, v) {
                session.printer.malformed += 1;
            }
        }
        let table = crate::maps::Table { info, entries: fitting };
        table.print(&mut session.printer, None, json, out)?;
    }
    SYMBOLS.with(|s| std::mem::swap(&mut session.printer.syms, &mut s.borrow_mut()));
    Ok(session.printer.malformed)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The decode target's seeds (`ok-*`, well formed: nothing malformed,
    /// something printed) and the inputs it found crashing (`crash-*`: they
    /// must print or be counted now), as text and JSON.
    #[test]
    fn fuzz_seeds_and_crashes_print() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/decode");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let mut data = std::fs::read(&path).unwrap();
            for json in [0, 1] {
                data[0] = (data[0] & !1) | json;
                let mut out = Vec::new();
                let malformed = super::print(&data, &mut out).unwrap();
                if name.starts_with("ok-") {
                    assert_eq!(malformed, 0, "{name}: {}", String::from_utf8_lossy(&out));
                    assert!(!out.is_empty(), "{name} printed nothing");
                }
            }
            seen += 1;
        }
        assert!(seen >= 300, "{seen} seeds in {}", dir.display());
    }
}
