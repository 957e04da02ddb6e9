//! Maps keyed by stacks as folded stacks (`outer;…;inner count`, the input
//! of flame graph tools) and as flame graph SVGs (inferno).

use std::io::Write;

use ntr_compiler::codegen::layout;
use ntr_lang::types::Type;

use crate::format::Printer;
use crate::maps::UserMap;

/// `function+0x1a (binary)` → `function (binary)`: flame graphs merge by function.
fn frame_name(frame: &str) -> String {
    match frame.split_once("+0x") {
        Some((func, rest)) => match rest.find(' ') {
            Some(i) => format!("{func}{}", &rest[i..]),
            None => func.to_string(),
        },
        None => frame.to_string(),
    }
}

/// Folded lines of every `count()`/`sum()` map with a stack in its key:
/// other key parts first, then user frames, then kernel frames, outermost
/// first.
pub fn folded(maps: &[UserMap], printer: &mut Printer) -> Vec<String> {
    let mut totals: std::collections::BTreeMap<String, i128> = Default::default();
    for m in maps.iter().filter(|m| m.info.key.iter().any(|f| matches!(f.ty, Type::KStack(_) | Type::UStack))) {
        for (key, n) in m.totals(printer) {
            let mut frames: Vec<String> = Vec::new();
            let mut user = Vec::new();
            let mut kernel = Vec::new();
            for (ty, bytes) in crate::decode::fields(&m.info.key, &key).unwrap_or_default() {
                let raw = crate::rawmap::u64_at(bytes, 0);
                // A failed stack (e.g. no kernel stack for a sample taken in
                // user space) adds no frames.
                match ty {
                    Type::KStack(_) if layout::kstack_parts(raw).0 < 0 => {}
                    Type::UStack if (raw as u32 as i32) < 0 => {}
                    Type::KStack(depth) => kernel.extend(printer.stack_of(depth, raw).into_iter().rev()),
                    Type::UStack => user.extend(printer.ustack(raw).into_iter().rev()),
                    _ => frames.push(printer.text(&ty, bytes)),
                }
            }
            frames.extend(user);
            frames.extend(kernel);
            let frames: Vec<String> = frames.iter().map(|f| frame_name(f).replace(';', ":")).collect();
            *totals.entry(frames.join(";")).or_default() += n;
        }
    }
    totals.into_iter().filter(|(stack, _)| !stack.is_empty()).map(|(stack, n)| format!("{stack} {n}")).collect()
}

/// Write `lines` as a flame graph SVG.
pub fn flamegraph(lines: &[String], title: &str, out: impl Write) -> Result<(), String> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::frame_name;

    #[test]
    fn frames_merge_by_function() {
        assert_eq!(frame_name("ntr_spin+0x16 (spin)"), "ntr_spin (spin)");
        assert_eq!(frame_name("nf_hook_slow+0x43"), "nf_hook_slow");
        assert_eq!(frame_name("[unknown] 0x7f00"), "[unknown] 0x7f00");
    }
}
