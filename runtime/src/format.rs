//! Values as text and JSON, driven by their types; printf.

use std::net::{Ipv4Addr, Ipv6Addr};

use aya::maps::{MapData, StackTraceMap};
use ntr_compiler::codegen::layout;
use ntr_lang::tir::FmtPiece;
use ntr_lang::types::{EnumDef, Type};
use ntr_lang::visible;
use serde_json::{json, Value};

use std::collections::HashMap;

use crate::cause;
use crate::clock::WallClock;
use crate::facts::Facts;
use crate::net::{self, Conntrack, Flow, RuleWatch};
use crate::rawmap::u64_at;
use crate::symbols::KernelSymbols;

/// A tracepoint whose kernel stack cannot be taken: older kernels (6.1)
/// give syscall tracepoints' programs the caller's user-space registers.
const USER_REGISTERS: &str =
    "[no kernel stack: the kernel gave this probe user-space registers, as older kernels do for syscall tracepoints; raw_tracepoint:sys_enter has the stack]";

/// What formatting needs besides the bytes: enum names, symbols, stacks,
/// namespace names and, for `nfrule`, the rulesets read at start.
pub struct Printer {
    pub enums: Vec<EnumDef>,
    pub syms: KernelSymbols,
    /// Stack-trace maps by depth (0: full).
    pub stacks: Vec<(u8, StackTraceMap<MapData>)>,
    /// Addresses of the stacks read so far, by (depth, id): an id's entry
    /// never changes (the programs do not ask the kernel to reuse ids), and
    /// a map keyed by stacks names the same few in many rows.
    stack_ips: HashMap<(u8, u32), Vec<u64>>,
    netns_names: HashMap<u64, String>,
    rules: Option<RuleWatch>,
    /// Routes, sockets and the like behind `cause` values, asked once each.
    pub facts: Facts,
    clock: WallClock,
    /// Event records and map entries skipped because they did not fit
    /// their layout (`decode`).
    pub malformed: u64,
}

pub fn duration(ns: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us"), (1, "ns")];
    for (scale, unit) in UNITS {
        if ns >= scale || scale == 1 {
            let whole = ns / scale;
            let frac = (ns % scale) * 1000 / scale;
            return if frac == 0 { format!("{whole}{unit}") } else { format!("{whole}.{}{unit}", format!("{frac:03}").trim_end_matches('0')) };
        }
    }
    format!("{ns}ns")
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The bytes of a `buf` value (its header says how many were read), or
/// `None` when its memory could not be read.
fn buf_bytes(bytes: &[u8]) -> Option<&[u8]> {
    let header = ntr_lang::types::BUF_HEADER as usize;
    let n = u64_at(bytes, 0);
    if n == ntr_lang::types::BUF_UNREADABLE {
        return None;
    }
    let data = bytes.get(header..).unwrap_or(&[]);
    Some(&data[..(n as usize).min(data.len())])
}

/// NUL-separated strings (a process's arguments as its memory holds them),
/// each escaped as `%r` does; a last one cut off by the capacity is kept.
fn joined(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    bytes.split(|b| *b == 0).map(escaped_bytes).collect()
}

/// Bytes as bpftrace's `%r` shows them: printable ASCII as it is, every
/// other byte as `\xNN`; a backslash too (`\x5c`, unlike bpftrace), so the
/// text reads back into the same bytes.
pub fn escaped_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for b in bytes {
        if (0x20..0x7f).contains(b) && *b != b'\\' {
            out.push(*b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The bytes `%r` shows of a value: a buffer's, a string's up to its NUL,
/// a byte array's.
fn raw_bytes<'b>(ty: &Type, bytes: &'b [u8]) -> Option<&'b [u8]> {
    match ty {
        Type::Buf { .. } => buf_bytes(bytes),
        Type::Str { .. } => Some(&bytes[..bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len())]),
        _ => Some(bytes.get(..ty.size() as usize).unwrap_or(bytes)),
    }
}

/// The elements of an integer array value.
fn array_elems(elem: u8, signed: bool, len: u16, bytes: &[u8]) -> Vec<i128> {
    bytes
        .chunks_exact(elem.max(1) as usize)
        .take(len as usize)
        .map(|c| {
            let mut word = [0u8; 8];
            word[..c.len()].copy_from_slice(c);
            let raw = u64::from_le_bytes(word);
            let shift = 64 - 8 * c.len() as u32;
            if signed {
                i128::from(((raw << shift) as i64) >> shift)
            } else {
                i128::from(raw)
            }
        })
        .collect()
}

const UNREADABLE: &str = "(unreadable)";

impl Printer {
    pub fn new(enums: Vec<EnumDef>, stacks: Vec<(u8, StackTraceMap<MapData>)>, rules: Option<RuleWatch>, clock: WallClock) -> Printer {
        Printer {
            enums,
            syms: Default::default(),
            stacks,
            stack_ips: HashMap::new(),
            netns_names: HashMap::new(),
            rules,
            facts: Facts::default(),
            clock,
            malformed: 0,
        }
    }

    /// A `walltime` as seconds since the Unix epoch.
    pub fn unix_seconds(&self, boot_ns: u64) -> f64 {
        self.clock.unix_seconds(boot_ns)
    }

    /// A `walltime` as nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self, boot_ns: u64) -> i128 {
        self.clock.unix_nanos(boot_ns)
    }

    fn netns(&mut self, inode: u64) -> String {
        self.netns_names.entry(inode).or_insert_with(|| crate::netns::display(inode)).clone()
    }

    fn hook(&mut self, depth: u8, stack: u64) -> Option<&'static str> {
        let frames = self.stack_of(depth, stack);
        net::hook_of(&frames)
    }

    /// The rules of `hook` whose counters rose in namespace `netns`.
    fn rule(&mut self, netns: u64, hook: Option<&str>) -> Option<String> {
        let hook = hook?;
        Some(match self.rules.as_mut() {
            Some(rules) => rules.describe(netns, Some(hook)),
            None => "(rules not read)".into(),
        })
    }

    /// A `cause` value in words (`net::CAUSE_*` layout).
    fn cause(&mut self, depth: u8, reason_enum: usize, bytes: &[u8]) -> String {
        use ntr_lang::net::*;
        let slot = |at: u32| u64_at(bytes, at as usize);
        let part = |at: u32, len: u32| bytes.get(at as usize..(at + len) as usize).unwrap_or(&[]);
        let reason = self.enum_name(reason_enum, slot(CAUSE_REASON) as i64).map(String::from).unwrap_or_else(|| slot(CAUSE_REASON).to_string());
        let netns = slot(CAUSE_NETNS);
        let hook = self.hook(depth, slot(CAUSE_STACK));
        let flow = Flow::parse(part(CAUSE_TUPLE, TUPLE_SIZE));
        let ct = Conntrack::parse(part(CAUSE_CT, CT_SIZE), &self.enums);
        let site = self.syms.name(slot(CAUSE_SITE));
        let drop = cause::Drop {
            reason: &reason,
            site: site.split('+').next().unwrap_or_default(),
            netns,
            ifindex: slot(CAUSE_IFINDEX) as u32,
            len: slot(CAUSE_LEN) as u32,
            flow: &flow,
            ct_state: &ct.state,
            hook,
            rule: self.rule(netns, hook),
        };
        cause::describe(&drop, &mut self.facts)
    }

    fn enum_name(&self, id: usize, v: i64) -> Option<&str> {
        self.enums.get(id)?.values.iter().find(|(val, _)| *val == v).map(|(_, n)| n.as_str())
    }

    /// Frames of a user stack value (pid << 32 | id), innermost first.
    pub fn ustack(&mut self, raw: u64) -> Vec<String> {
        let (pid, id) = ((raw >> 32) as u32, raw as u32 as i32);
        if id < 0 {
            return vec![format!("[user stack unavailable: error {id}]")];
        }
        match self.ips(0, id as u32) {
            Ok(ips) => self.syms.user_names(pid, &ips),
            Err(frames) => frames,
        }
    }

    /// The addresses of stack `id` in the map of `depth`; `Err` holds the
    /// frames to show instead (an evicted stack, no stack map).
    fn ips(&mut self, depth: u8, id: u32) -> Result<Vec<u64>, Vec<String>> {
        if let Some(ips) = self.stack_ips.get(&(depth, id)) {
            return Ok(ips.clone());
        }
        match self.stacks.iter().find(|(d, _)| *d == depth).map(|(_, m)| m) {
            Some(map) => match map.get(&id, 0) {
                Ok(trace) => {
                    let ips: Vec<u64> = trace.frames().iter().map(|f| f.ip).collect();
                    self.stack_ips.insert((depth, id), ips.clone());
                    Ok(ips)
                }
                Err(_) => Err(vec!["[stack evicted]".into()]),
            },
            None => Err(Vec::new()),
        }
    }

    /// Frames of a kernel stack value (`layout::kstack_tag`) of type
    /// `kstack(depth)` (0: `kstack`), innermost first.
    pub fn stack_of(&mut self, depth: u8, raw: u64) -> Vec<String> {
        let (id, map_depth, tracing) = layout::kstack_parts(raw);
        if id == -libc::EFAULT && tracing {
            // The registers the kernel handed over are user space's: not a
            // sample taken there, but an event in the kernel.
            return vec![USER_REGISTERS.into()];
        }
        if id == -libc::EFAULT {
            return vec!["[no kernel stack: in user space]".into()];
        }
        if id < 0 {
            return vec![format!("[stack unavailable: error {id}]")];
        }
        let ips = match self.ips(map_depth, id as u32) {
            Ok(ips) => ips,
            Err(frames) => return frames,
        };
        let mut frames = self.syms.names(&ips);
        if tracing {
            // The tracing machinery between the event and the program is not
            // the traced code's.
            let machinery = [
                "bpf_prog_",
                "bpf_trampoline_",
                "bpf_trace_run",
                "__bpf_trace_",
                "perf_trace_",
                "perf_syscall_",
                "trace_event_raw_event_",
                "__traceiter_",
            ];
            let keep = frames.iter().position(|f| !machinery.iter().any(|m| f.starts_with(m))).unwrap_or(frames.len());
            frames.drain(..keep);
        }
        if depth > 0 {
            frames.truncate(depth as usize);
        }
        frames
    }

    /// A value as text for a terminal: control characters in it (a process
    /// name can hold ESC) escaped, stacks one frame a line.
    pub fn text(&mut self, ty: &Type, bytes: &[u8]) -> String {
        match ty {
            Type::KStack(_) | Type::UStack => {
                self.frames(ty, bytes).iter().map(|f| format!("\n    {}", visible::escape(f, &[]))).collect::<String>() + "\n"
            }
            _ => {
                // Most values need no escape: keep the string made.
                let plain = self.plain(ty, bytes);
                let escaped = match visible::escape(&plain, &[]) {
                    std::borrow::Cow::Owned(e) => Some(e),
                    std::borrow::Cow::Borrowed(_) => None,
                };
                escaped.unwrap_or(plain)
            }
        }
    }

    /// The frames of a stack value, innermost first (none for other types).
    fn frames(&mut self, ty: &Type, bytes: &[u8]) -> Vec<String> {
        let raw = u64_at(bytes, 0);
        match ty {
            Type::KStack(depth) => self.stack_of(*depth, raw),
            Type::UStack => self.ustack(raw),
            _ => Vec::new(),
        }
    }

    /// A value as text, as it is: what JSON carries (it escapes for itself)
    /// and `text` escapes.
    fn plain(&mut self, ty: &Type, bytes: &[u8]) -> String {
        let raw = u64_at(bytes, 0);
        match ty {
            Type::Int { signed: true, .. } => (raw as i64).to_string(),
            Type::Int { .. } => raw.to_string(),
            Type::Bool => (raw != 0).to_string(),
            Type::Str { .. } => c_string(bytes),
            // A last string without its NUL was cut off by the capacity: `…` says so.
            Type::Buf { joined: true, .. } => buf_bytes(bytes)
                .map(|b| joined(b).join(" ") + if b.last().is_some_and(|x| *x != 0) { "…" } else { "" })
                .unwrap_or_else(|| UNREADABLE.into()),
            Type::Buf { .. } => buf_bytes(bytes).map(escaped_bytes).unwrap_or_else(|| UNREADABLE.into()),
            Type::Array { elem, signed, len } => {
                let elems: Vec<String> = array_elems(*elem, *signed, *len, bytes).iter().map(|v| v.to_string()).collect();
                format!("[{}]", elems.join(", "))
            }
            Type::Addr | Type::Ptr { .. } => format!("{raw:#x}"),
            Type::Sym => self.syms.name(raw),
            Type::USym => self.syms.user_names(raw as u32, &[u64_at(bytes, 8)]).into_iter().next().unwrap_or_default(),
            Type::Enum(id) => self.enum_name(*id, raw as i64).map(String::from).unwrap_or_else(|| (raw as i64).to_string()),
            Type::Duration => duration(raw),
            Type::Time => self.clock.text(raw),
            Type::TimeText(format) => self.clock.strftime(format, raw),
            Type::Ip4 => bytes.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(|b| Ipv4Addr::from(b).to_string()).unwrap_or_default(),
            Type::Ip6 => bytes.get(..16).and_then(|b| <[u8; 16]>::try_from(b).ok()).map(|b| Ipv6Addr::from(b).to_string()).unwrap_or_default(),
            Type::KStack(_) | Type::UStack => self.frames(ty, bytes).join("\n"),
            Type::Tuple => Flow::parse(bytes).text(),
            Type::Flow => Flow::parse(bytes).text_both_ways(),
            Type::Ct => Conntrack::parse(bytes, &self.enums).text(),
            Type::Netns => self.netns(raw),
            Type::NfHook(depth) => self.hook(*depth, raw).unwrap_or("-").to_string(),
            Type::NfRule(depth) => {
                let hook = self.hook(*depth, u64_at(bytes, 8));
                self.rule(raw, hook).unwrap_or_else(|| "-".into())
            }
            Type::Cause { depth, reason } => self.cause(*depth, *reason, bytes),
            Type::Flags(id) => net::flags(self.enums.get(*id), raw).join("|"),
            Type::Void => String::new(),
        }
    }

    pub fn json(&mut self, ty: &Type, bytes: &[u8]) -> Value {
        let raw = u64_at(bytes, 0);
        match ty {
            Type::Int { signed: true, .. } => json!(raw as i64),
            Type::Int { .. } | Type::Duration => json!(raw),
            Type::Bool => json!(raw != 0),
            Type::KStack(_) | Type::UStack => json!(self.frames(ty, bytes)),
            Type::Tuple | Type::Flow => Flow::parse(bytes).json(),
            Type::Ct => Conntrack::parse(bytes, &self.enums).json(),
            Type::Flags(id) => json!(net::flags(self.enums.get(*id), raw)),
            Type::Time => json!(self.clock.json(raw)),
            // Strings as an array of them; a buffer as a hex string (`null`
            // when unreadable).
            Type::Buf { joined: true, .. } => buf_bytes(bytes).map(|b| json!(joined(b))).unwrap_or(Value::Null),
            Type::Buf { .. } => buf_bytes(bytes).map(|b| json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>())).unwrap_or(Value::Null),
            Type::Array { elem, signed, len } => json!(array_elems(*elem, *signed, *len, bytes)
                .iter()
                .map(|v| if *signed { json!(*v as i64) } else { json!(*v as u64) })
                .collect::<Vec<_>>()),
            _ => json!(self.plain(ty, bytes)),
        }
    }

    /// printf with `%d %i %u %x %X %s %p %c %r`, flags, width and precision.
    pub fn printf(&mut self, pieces: &[FmtPiece], args: &[(Type, Vec<u8>)]) -> String {
        let mut out = String::new();
        let mut args = args.iter();
        for piece in pieces {
            match piece {
                FmtPiece::Lit(s) => out.push_str(s),
                FmtPiece::Arg { conv, spec } => {
                    let Some((ty, bytes)) = args.next() else { break };
                    let raw = u64_at(bytes, 0);
                    let body = match conv {
                        'd' | 'i' => (raw as i64).to_string(),
                        'u' => raw.to_string(),
                        'x' => format!("{raw:x}"),
                        'X' => format!("{raw:X}"),
                        'p' => format!("{raw:#x}"),
                        'r' => raw_bytes(ty, bytes).map(escaped_bytes).unwrap_or_else(|| UNREADABLE.into()),
                        'c' => char::from_u32(raw as u32).map(|c| visible::escape(&String::from(c), &[]).into_owned()).unwrap_or_default(),
                        _ => self.text(ty, bytes),
                    };
                    out.push_str(&pad(&body, spec, *conv));
                }
            }
        }
        out
    }
}

/// Apply printf flags and width: `-` left-aligns, `0` zero-pads numbers,
/// `.N` truncates strings.
fn pad(body: &str, spec: &str, conv: char) -> String {
    let left = spec.contains('-');
    let (width_part, precision) = match spec.split_once('.') {
        Some((w, p)) => (w, p.parse::<usize>().ok()),
        None => (spec, None),
    };
    let zero = width_part.trim_start_matches(['-', '+', ' ', '#']).starts_with('0') && conv != 's';
    let width: usize = width_part.trim_start_matches(['-', '+', ' ', '#', '0']).parse().unwrap_or(0);
    let body: String = match precision {
        Some(p) if conv == 's' => body.chars().take(p).collect(),
        _ => body.to_string(),
    };
    let n = body.chars().count();
    if n >= width {
        return body;
    }
    let fill = width - n;
    if left {
        format!("{body}{}", " ".repeat(fill))
    } else if zero {
        match body.strip_prefix('-') {
            Some(digits) => format!("-{}{digits}", "0".repeat(fill)),
            None => format!("{}{body}", "0".repeat(fill)),
        }
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer() -> Printer {
        let clock = WallClock::fixed(0, jiff::tz::TimeZone::UTC);
        Printer::new(vec![EnumDef { name: "r".into(), values: vec![(2, "NO_SOCKET".into())] }], Vec::new(), None, clock)
    }

    #[test]
    fn printf_widths_and_flags() {
        let mut p = printer();
        let n = |v: i64| (Type::S64, v.to_ne_bytes().to_vec());
        let s = |t: &str| {
            let mut b = t.as_bytes().to_vec();
            b.resize(8, 0);
            (Type::Str { len: 8 }, b)
        };
        let pieces = vec![
            FmtPiece::Lit("[".into()),
            FmtPiece::Arg { conv: 'd', spec: "5".into() },
            FmtPiece::Lit("][".into()),
            FmtPiece::Arg { conv: 's', spec: "-4".into() },
            FmtPiece::Lit("][".into()),
            FmtPiece::Arg { conv: 'x', spec: "04".into() },
            FmtPiece::Lit("][".into()),
            FmtPiece::Arg { conv: 's', spec: String::new() },
            FmtPiece::Lit("]".into()),
        ];
        let e = (Type::Enum(0), 2i64.to_ne_bytes().to_vec());
        assert_eq!(p.printf(&pieces, &[n(42), s("ab"), n(255), e]), "[   42][ab  ][00ff][NO_SOCKET]");
    }

    #[test]
    fn values_by_type() {
        let mut p = printer();
        assert_eq!(p.text(&Type::Ip4, &[10, 0, 2, 2, 0, 0, 0, 0]), "10.0.2.2");
        assert_eq!(p.text(&Type::Enum(0), &7i64.to_ne_bytes()), "7");
        assert_eq!(duration(1_500_000), "1.5ms");
        assert_eq!(duration(20_000), "20us");
        assert_eq!(duration(3_000_000_000), "3s");
        assert_eq!(p.json(&Type::S64, &(-3i64).to_ne_bytes()), json!(-3));
        // 2026-11-26T14:05:23.5Z on a clock whose boot was at the epoch.
        let t = 1_795_701_923_500_000_000u64.to_ne_bytes();
        assert_eq!(p.text(&Type::Time, &t), "14:05:23.500000");
        assert_eq!(p.json(&Type::Time, &t), json!("2026-11-26T14:05:23.500000+00:00"));
    }

    #[test]
    fn buffers_and_arrays() {
        let mut p = printer();
        let mut buf = 3u64.to_ne_bytes().to_vec();
        buf.extend(b"a\\\xffzz");
        let ty = Type::Buf { cap: 8, joined: false };
        assert_eq!(p.text(&ty, &buf), "a\\x5c\\xff");
        assert_eq!(p.json(&ty, &buf), json!("615cff"));
        let unreadable = u64::MAX.to_ne_bytes();
        assert_eq!((p.text(&ty, &unreadable), p.json(&ty, &unreadable)), ("(unreadable)".into(), Value::Null));
        let signed = Type::Array { elem: 2, signed: true, len: 2 };
        let bytes = [0xff, 0xff, 0x02, 0x00];
        assert_eq!((p.text(&signed, &bytes), p.json(&signed, &bytes)), ("[-1, 2]".into(), json!([-1, 2])));
        let unsigned = Type::Array { elem: 2, signed: false, len: 2 };
        assert_eq!(p.text(&unsigned, &bytes), "[65535, 2]");
        // Joined strings: whole, or the last one cut off by the capacity.
        let joined = Type::Buf { cap: 16, joined: true };
        let mut whole = 10u64.to_ne_bytes().to_vec();
        whole.extend(b"ls\0-l\0a b\0\0\0\0\0\0\0");
        assert_eq!((p.text(&joined, &whole), p.json(&joined, &whole)), ("ls -l a b".into(), json!(["ls", "-l", "a b"])));
        let mut cut = 5u64.to_ne_bytes().to_vec();
        cut.extend(b"ls\0-lah");
        assert_eq!(p.text(&joined, &cut), "ls -l…");
    }

    #[test]
    fn control_characters_are_escaped_in_text_not_in_json() {
        let mut p = printer();
        let comm = (Type::Str { len: 16 }, b"a\x1b[31mb\n\0\0\0\0\0\0\0\0\0".to_vec());
        assert_eq!(p.text(&comm.0, &comm.1), "a\\x1b[31mb\\x0a");
        assert_eq!(p.json(&comm.0, &comm.1), json!("a\u{1b}[31mb\n"));
        // The script's own format text is the script author's: kept.
        let pieces =
            vec![FmtPiece::Lit("\x1b[1m".into()), FmtPiece::Arg { conv: 's', spec: String::new() }, FmtPiece::Arg { conv: 'c', spec: String::new() }];
        let esc = (Type::S64, 0x1bi64.to_ne_bytes().to_vec());
        assert_eq!(p.printf(&pieces, &[comm.clone(), esc]), "\x1b[1ma\\x1b[31mb\\x0a\\x1b");
        let utf8 = (Type::Str { len: 8 }, "héé✓\0".as_bytes().to_vec());
        assert_eq!(p.text(&utf8.0, &utf8.1), "héé✓");
    }
}
