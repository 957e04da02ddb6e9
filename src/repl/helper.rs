//! Editing help for the REPL: completion (keywords, builtins, probe names,
//! the current probe's arguments, struct fields after `.`) and multi-line
//! input while braces or parentheses are open.

use std::rc::Rc;

use ntr_lang::check::{parse_probe, ProbeTarget};
use ntr_lang::kernel::btf::KernelBtf;
use ntr_lang::kernel::{KType, KernelTypes, TypeId};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

/// Keywords; the builtins' names come from the catalogue.
const KEYWORDS: &[&str] = &["on", "if", "else", "let", "return", "fn", "param", "use", "begin", "end", "every", "params", "builtin", "args"];

pub struct ReplHelper {
    kernel: Rc<KernelBtf>,
    tracepoints: Vec<String>,
    /// Names of `fn`s defined in the session.
    pub fns: Vec<String>,
}

impl ReplHelper {
    pub fn new(kernel: Rc<KernelBtf>) -> ReplHelper {
        let tracepoints = kernel.tracepoints();
        ReplHelper { kernel, tracepoints, fns: Vec::new() }
    }

    /// The probe of the block being typed: the spec after the last `on`.
    fn current_probe<'a>(&self, before: &'a str) -> Option<&'a str> {
        // `on` as a word, not the end of `reason `.
        let at = before
            .rmatch_indices("on ")
            .map(|(i, _)| i)
            .find(|&i| i == 0 || before[..i].ends_with(|c: char| c.is_whitespace() || c == '}' || c == ';'))?;
        before[at + 3..].split(|c: char| c.is_whitespace() || c == '{' || c == ',').find(|s| !s.is_empty())
    }

    fn probe_args(&self, probe: &str) -> Vec<(String, KType)> {
        let Ok(ProbeTarget::Tracepoint { category, name }) = parse_probe(probe) else { return Vec::new() };
        match self.kernel.tracepoint(category.as_deref(), &name) {
            Ok(tp) => tp.btf_args.unwrap_or_default().into_iter().map(|a| (a.name, a.ty)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Fields of what `path` (`skb.dev`) points to, in the current probe.
    fn fields(&self, probe: &str, path: &[&str]) -> Vec<String> {
        let args = self.probe_args(probe);
        let Some((_, mut ty)) = args.into_iter().find(|(n, _)| Some(n.as_str()) == path.first().copied()) else { return Vec::new() };
        for step in path.iter().skip(1) {
            let Some(id) = self.struct_id(&ty) else { return Vec::new() };
            match self.kernel.members(id).into_iter().find(|m| m.name == *step) {
                Some(m) => ty = m.ty,
                None => return Vec::new(),
            }
        }
        match self.struct_id(&ty) {
            Some(id) => self.kernel.members(id).into_iter().map(|m| m.name).filter(|n| !n.is_empty()).collect(),
            None => Vec::new(),
        }
    }

    /// The values of the enum the word is compared with: `reason == NO_S`
    /// after a probe argument of an enum type.
    fn enum_values_compared(&self, before: &str, start: usize) -> Option<Vec<String>> {
        let lhs = before[..start].trim_end();
        let lhs = lhs.strip_suffix("==").or_else(|| lhs.strip_suffix("!="))?.trim_end();
        let name = lhs.rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next()?;
        let probe = self.current_probe(before)?;
        let (_, ty) = self.probe_args(probe).into_iter().find(|(n, _)| n == name)?;
        let KType::Enum { id, .. } = ty else { return None };
        Some(ntr_lang::check::printed_names(&self.kernel.enum_values(id)))
    }

    /// The struct a value of type `ty` has fields of (through one pointer).
    fn struct_id(&self, ty: &KType) -> Option<TypeId> {
        match ty {
            KType::Struct { id, .. } | KType::Union { id, .. } => Some(*id),
            KType::Ptr { target } => match self.kernel.resolve(*target) {
                KType::Struct { id, .. } | KType::Union { id, .. } => Some(id),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The fields of the network value a call right before a `.` makes:
/// `tuple(skb).`, `flow(skb).`, `ct(skb).`.
fn value_fields(before: &str) -> Option<&'static [&'static str]> {
    let call = before.strip_suffix(')')?;
    let open = call.rfind('(')?;
    let name = call[..open].rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next()?;
    match name {
        "tuple" | "flow" => Some(ntr_lang::check::TUPLE_FIELDS),
        "ct" => Some(ntr_lang::check::CT_FIELDS),
        _ => None,
    }
}

/// Whether the word at the end of `before` names a probe (after `on` or a
/// `,` in a probe list).
fn in_probe_position(before: &str) -> bool {
    let t = before.trim_end();
    let last_on = t.rfind("on ").map(|i| i == 0 || !t.as_bytes()[i - 1].is_ascii_alphanumeric()).unwrap_or(false);
    t.ends_with(" on") || t == "on" || (t.ends_with(',') && last_on && !t.contains('{'))
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(|c: char| !(c.is_alphanumeric() || "_:.@*".contains(c))).map(|i| i + 1).unwrap_or(0);
        let word = &before[start..];
        let pair = |s: &str| Pair { display: s.to_string(), replacement: s.to_string() };
        if before.starts_with(':') && !before.contains(char::is_whitespace) {
            return Ok((0, super::COMMANDS.iter().filter(|c| c.starts_with(before)).map(|c| pair(c)).collect()));
        }
        if let Some(values) = self.enum_values_compared(before, start) {
            return Ok((start, values.iter().filter(|v| v.starts_with(word)).map(|v| pair(v)).collect()));
        }
        if let Some(fields) = word.strip_prefix('.').and_then(|_| value_fields(&before[..start])) {
            return Ok((start + 1, fields.iter().filter(|f| f.starts_with(&word[1..])).map(|f| pair(f)).collect()));
        }
        if in_probe_position(&before[..start]) {
            let mut names: Vec<String> = Vec::new();
            for tp in &self.tracepoints {
                for n in [tp.as_str(), tp.rsplit(':').next().unwrap_or(tp)] {
                    if n.starts_with(word) && !names.iter().any(|x| x == n) {
                        names.push(n.to_string());
                    }
                }
            }
            names.sort();
            return Ok((start, names.iter().map(|n| pair(n)).collect()));
        }
        if let Some(dot) = word.rfind('.') {
            let path: Vec<&str> = word[..dot].split('.').collect();
            let prefix = &word[dot + 1..];
            let probe = self.current_probe(before).unwrap_or("");
            let fields = self.fields(probe, &path);
            return Ok((start + dot + 1, fields.iter().filter(|f| f.starts_with(prefix)).map(|f| pair(f)).collect()));
        }
        let probe_args = self.current_probe(before).map(|p| self.probe_args(p)).unwrap_or_default();
        let mut words: Vec<String> = KEYWORDS
            .iter()
            .chain(ntr_lang::builtins::all_names().iter())
            .map(|w| w.to_string())
            .chain(self.fns.iter().cloned())
            .chain(probe_args.into_iter().map(|(n, _)| n))
            .collect();
        words.retain(|w| w.starts_with(word));
        words.sort();
        words.dedup();
        Ok((start, words.iter().map(|w| pair(w)).collect()))
    }
}

/// Open `{` and `(` outside strings and comments.
fn open_delimiters(text: &str) -> i32 {
    let mut depth = 0;
    let mut in_str = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_str = !in_str,
            '\\' if in_str => {
                chars.next();
            }
            '#' if !in_str => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '/' if !in_str && chars.peek() == Some(&'/') => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '{' | '(' if !in_str => depth += 1,
            '}' | ')' if !in_str => depth -= 1,
            _ => {}
        }
    }
    depth
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if open_delimiters(ctx.input()) > 0 { ValidationResult::Incomplete } else { ValidationResult::Valid(None) })
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_continues_while_blocks_are_open() {
        assert_eq!(open_delimiters("on kfree_skb {"), 1);
        assert_eq!(open_delimiters("on kfree_skb { printf(\"}\"); }"), 0);
        assert_eq!(open_delimiters("on kfree_skb { # }\n"), 1);
    }

    #[test]
    fn fields_of_network_values() {
        assert_eq!(value_fields("print(tuple(skb)"), Some(ntr_lang::check::TUPLE_FIELDS));
        assert_eq!(value_fields("if ct(skb)"), Some(ntr_lang::check::CT_FIELDS));
        assert_eq!(value_fields("if sym(x)"), None);
    }

    #[test]
    fn every_command_is_in_the_help() {
        for c in super::super::COMMANDS {
            assert!(super::super::HELP.contains(c), "{c}");
        }
    }

    #[test]
    fn probe_positions() {
        assert!(in_probe_position("on "));
        assert!(in_probe_position("on kfree_skb, "));
        assert!(!in_probe_position("on kfree_skb { x, "));
        assert!(!in_probe_position("let "));
    }
}
