//! The program's maps: each `@name` gets its key types and kind from its
//! uses, which must agree.

use std::collections::HashMap;

use super::labels;
use crate::ast::Ident;
use crate::diag::Diagnostic;
use crate::source::Span;
use crate::tir::{AggFunc, MapDecl, MapId, MapKind};
use crate::types::Type;

struct Entry {
    name: String,
    first_use: Span,
    keys: Option<(Vec<Type>, Span)>,
    kind: Option<(MapKind, Span)>,
    /// Metrics labels the script named, by key position.
    given: Vec<Option<(String, Span)>>,
    /// Labels derived from the key expressions of the first use.
    derived: Option<Vec<Option<String>>>,
}

#[derive(Default)]
pub(crate) struct MapTable {
    /// A string key or value was widened after earlier uses were typed with
    /// the narrower capacity: the script is checked again with the widths known.
    pub widened: bool,
    entries: Vec<Entry>,
    by_name: HashMap<String, MapId>,
}

/// How a value is stored in a map key: integers widen to 64 bits, pointers
/// are addresses.
pub(crate) fn key_type(ty: &Type) -> Type {
    match ty {
        Type::Int { signed, .. } => Type::Int { size: 8, signed: *signed },
        Type::Ptr { .. } => Type::Addr,
        other => other.clone(),
    }
}

/// Whether two stored types are the same layout (ints of any width/sign
/// agree, and strings of any capacity: a string's capacity is storage).
fn same_layout(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::Int { .. }, Type::Int { .. }) | (Type::Str { .. }, Type::Str { .. }) => true,
        _ => a == b,
    }
}

/// Widen `stored` to hold `new` too (the longer string's capacity);
/// whether it grew.
fn widen(stored: &mut Type, new: &Type) -> bool {
    match (&mut *stored, new) {
        (Type::Str { len: a }, Type::Str { len: b }) if *b > *a => {
            *a = *b;
            true
        }
        _ => false,
    }
}

pub(crate) fn display(name: &str) -> String {
    format!("@{name}")
}

impl MapTable {
    /// The id of `@name`, creating an untyped entry on first mention.
    pub fn id(&mut self, name: &str, span: Span) -> MapId {
        if let Some(id) = self.by_name.get(name) {
            return *id;
        }
        self.entries.push(Entry { name: name.to_string(), first_use: span, keys: None, kind: None, given: Vec::new(), derived: None });
        let id = self.entries.len() - 1;
        self.by_name.insert(name.to_string(), id);
        id
    }

    pub fn keys(&self, id: MapId) -> Option<&Vec<Type>> {
        self.entries[id].keys.as_ref().map(|(k, _)| k)
    }

    pub fn kind(&self, id: MapId) -> Option<&MapKind> {
        self.entries[id].kind.as_ref().map(|(k, _)| k)
    }

    pub fn set_keys(&mut self, id: MapId, keys: &[Type], span: Span) -> Result<(), Diagnostic> {
        let keys: Vec<Type> = keys.iter().map(key_type).collect();
        let entry = &mut self.entries[id];
        match &entry.keys {
            None => {
                entry.keys = Some((keys, span));
                Ok(())
            }
            Some((prev, prev_span)) => {
                if prev.len() == keys.len() && prev.iter().zip(&keys).all(|(a, b)| same_layout(a, b)) {
                    if let Some((prev, _)) = &mut entry.keys {
                        for (a, b) in prev.iter_mut().zip(&keys) {
                            self.widened |= widen(a, b);
                        }
                    }
                    Ok(())
                } else {
                    Err(Diagnostic::error(
                        format!("map `{}` is used with two different keys", display(&entry.name)),
                        span,
                        format!("keyed by {} here", describe_keys(&keys)),
                    )
                    .with_secondary(*prev_span, format!("keyed by {} here", describe_keys(prev)))
                    .with_help("a map has one key type: use a second map for the other key"))
                }
            }
        }
    }

    /// Record the labels of one use of the map's keys (named, derived),
    /// which must agree with the names given at other uses.
    pub fn set_labels(&mut self, id: MapId, named: &[Option<Ident>], derived: Vec<Option<String>>) -> Result<(), Diagnostic> {
        let entry = &mut self.entries[id];
        entry.given.resize(named.len().max(entry.given.len()), None);
        for (i, n) in named.iter().enumerate() {
            let Some(n) = n else { continue };
            labels::check_given(n, false)?;
            if let Some(other) = named[..i].iter().flatten().find(|o| o.name == n.name) {
                return Err(Diagnostic::error(format!("two keys of `{}` are named `{}`", display(&entry.name), n.name), n.span, "named again here")
                    .with_secondary(other.span, "first named here")
                    .with_help("each key's label needs its own name"));
            }
            match &entry.given[i] {
                Some((prev, prev_span)) if *prev != n.name => {
                    return Err(Diagnostic::error(
                        format!("key {} of `{}` is named two ways", i + 1, display(&entry.name)),
                        n.span,
                        format!("`{}` here", n.name),
                    )
                    .with_secondary(*prev_span, format!("`{prev}` here"))
                    .with_help("name it once, or the same at every use"));
                }
                Some(_) => {}
                None => entry.given[i] = Some((n.name.clone(), n.span)),
            }
        }
        entry.derived.get_or_insert(derived);
        Ok(())
    }

    pub fn set_kind(&mut self, id: MapId, kind: MapKind, span: Span) -> Result<(), Diagnostic> {
        let entry = &mut self.entries[id];
        match &entry.kind {
            None => {
                entry.kind = Some((kind, span));
                Ok(())
            }
            Some((prev, prev_span)) => {
                let agrees = match (prev, &kind) {
                    (MapKind::Agg { func: f1, arg: a1 }, MapKind::Agg { func: f2, arg: a2 }) => f1 == f2 && same_layout(a1, a2),
                    (MapKind::Value(a), MapKind::Value(b)) => same_layout(a, b),
                    _ => false,
                };
                if agrees {
                    if let (Some((MapKind::Value(stored), _)), MapKind::Value(new)) = (&mut entry.kind, &kind) {
                        self.widened |= widen(stored, new);
                    }
                    Ok(())
                } else {
                    Err(Diagnostic::error(
                        format!("map `{}` holds two different kinds of value", display(&entry.name)),
                        span,
                        format!("{} here", describe_kind(&kind)),
                    )
                    .with_secondary(*prev_span, format!("{} here", describe_kind(prev))))
                }
            }
        }
    }

    pub fn decls(&self) -> Result<Vec<MapDecl>, Diagnostic> {
        let assigned: Vec<String> = self.entries.iter().filter(|e| e.kind.is_some()).map(|e| display(&e.name)).collect();
        let mut out = Vec::new();
        for e in &self.entries {
            let Some((kind, _)) = e.kind.clone() else {
                let near = super::expr::near_misses(&display(&e.name), &assigned);
                let d = Diagnostic::error(format!("map `{}` is never given a value", display(&e.name)), e.first_use, "used here");
                return Err(if near.is_empty() {
                    d.with_help(format!("assign it somewhere, e.g. `{}[…] = count()`", display(&e.name)))
                } else {
                    d.with_help(format!("did you mean {}?", super::probes::quote_list(&near)))
                });
            };
            let histogram = matches!(kind, MapKind::Agg { func: AggFunc::Hist | AggFunc::Lhist { .. }, .. });
            for (name, span) in e.given.iter().flatten() {
                labels::check_given(&Ident { name: name.clone(), span: *span }, histogram)?;
            }
            let keys = e.keys.clone().map(|(k, _)| k).unwrap_or_default();
            let labels = labels::finish(&e.given, e.derived.as_deref().unwrap_or_default(), histogram);
            out.push(MapDecl { name: e.name.clone(), keys, labels, kind, span: e.first_use });
        }
        Ok(out)
    }
}

fn describe_keys(keys: &[Type]) -> String {
    if keys.is_empty() {
        return "nothing".into();
    }
    let parts: Vec<String> = keys.iter().map(super::expr::type_name).collect();
    format!("({})", parts.join(", "))
}

fn describe_kind(kind: &MapKind) -> String {
    match kind {
        MapKind::Value(t) => format!("a {} value", super::expr::type_name(t)),
        MapKind::Agg { func, .. } => match func {
            AggFunc::Count => "count()".into(),
            AggFunc::Sum => "sum()".into(),
            AggFunc::Min => "min()".into(),
            AggFunc::Max => "max()".into(),
            AggFunc::Avg => "avg()".into(),
            AggFunc::Stats => "stats()".into(),
            AggFunc::Hist => "hist()".into(),
            AggFunc::Lhist { lo, hi, step } => format!("lhist(_, {lo}, {hi}, {step})"),
        },
    }
}
