//! Register allocation: liveness over the control-flow graph, an
//! interference graph, Chaitin-style colouring onto r1–r9 (r6–r9 for values
//! alive across helper calls, which clobber r0–r5), and spilling to stack
//! slots with retries until everything fits. r0 is kept free: it carries
//! call results and return values and breaks parallel-move cycles.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::ir::{Block, Function, Inst, Operand, Vreg};

/// Registers that helper calls preserve.
const CALLEE_SAVED: [u8; 4] = [6, 7, 8, 9];
const ALL: [u8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

pub struct Allocation {
    /// Physical register of each virtual register.
    pub regs: HashMap<Vreg, u8>,
    /// Number of 8-byte spill slots used.
    pub spill_slots: u32,
}

/// A vreg that could not get a register even after spilling (only when the
/// stack budget ran out: reported by the caller with the defining span).
pub struct OutOfStack {
    pub vreg: Vreg,
}

/// Blocks reachable from the entry.
pub fn reachable(f: &Function) -> Vec<bool> {
    let mut seen = vec![false; f.blocks.len()];
    let mut stack = vec![0];
    while let Some(b) = stack.pop() {
        if b >= seen.len() || seen[b] {
            continue;
        }
        seen[b] = true;
        stack.extend(f.blocks[b].term.0.successors());
    }
    seen
}

/// Live-out sets of every block.
fn liveness(f: &Function, live: &[bool]) -> Vec<BTreeSet<Vreg>> {
    let n = f.blocks.len();
    let mut uses = vec![BTreeSet::new(); n];
    let mut defs = vec![BTreeSet::new(); n];
    for (b, block) in f.blocks.iter().enumerate() {
        if !live[b] {
            continue;
        }
        for (inst, _) in &block.insts {
            for u in inst.uses() {
                if !defs[b].contains(&u) {
                    uses[b].insert(u);
                }
            }
            if let Some(d) = inst.def() {
                defs[b].insert(d);
            }
        }
        for u in block.term.0.uses() {
            if !defs[b].contains(&u) {
                uses[b].insert(u);
            }
        }
    }
    let mut live_in = vec![BTreeSet::new(); n];
    let mut live_out = vec![BTreeSet::new(); n];
    let mut changed = true;
    while changed {
        changed = false;
        for b in (0..n).rev().filter(|b| live[*b]) {
            let mut out = BTreeSet::new();
            for s in f.blocks[b].term.0.successors() {
                out.extend(live_in[s].iter().copied());
            }
            let mut inn: BTreeSet<Vreg> = out.difference(&defs[b]).copied().collect();
            inn.extend(uses[b].iter().copied());
            if inn != live_in[b] || out != live_out[b] {
                live_in[b] = inn;
                live_out[b] = out;
                changed = true;
            }
        }
    }
    live_out
}

struct Graph {
    edges: HashMap<Vreg, HashSet<Vreg>>,
    /// Alive across a helper call: must sit in r6–r9.
    across_call: HashSet<Vreg>,
    /// Move-related pairs and call-argument positions, to bias colours.
    prefer: HashMap<Vreg, Vec<Preference>>,
    uses: HashMap<Vreg, u32>,
}

#[derive(Clone, Copy)]
enum Preference {
    SameAs(Vreg),
    Reg(u8),
}

impl Graph {
    fn node(&mut self, v: Vreg) {
        self.edges.entry(v).or_default();
    }

    fn edge(&mut self, a: Vreg, b: Vreg) {
        if a != b {
            self.edges.entry(a).or_default().insert(b);
            self.edges.entry(b).or_default().insert(a);
        }
    }
}

fn build(f: &Function, live: &[bool]) -> Graph {
    let live_out = liveness(f, live);
    let mut g = Graph { edges: HashMap::new(), across_call: HashSet::new(), prefer: HashMap::new(), uses: HashMap::new() };
    for (b, block) in f.blocks.iter().enumerate() {
        if !live[b] {
            continue;
        }
        let mut now: BTreeSet<Vreg> = live_out[b].clone();
        for u in block.term.0.uses() {
            g.node(u);
            *g.uses.entry(u).or_default() += 1;
            now.insert(u);
        }
        for (inst, _) in block.insts.iter().rev() {
            let def = inst.def();
            if let Inst::Call { args, .. } = inst {
                for v in now.iter().filter(|v| Some(**v) != def) {
                    g.across_call.insert(*v);
                }
                for (i, a) in args.iter().enumerate() {
                    if let Operand::Reg(r) = a {
                        g.prefer.entry(*r).or_default().push(Preference::Reg(i as u8 + 1));
                    }
                }
            }
            if let Some(d) = def {
                g.node(d);
                let mov_src = match inst {
                    Inst::Mov { src: Operand::Reg(s), .. } => Some(*s),
                    _ => None,
                };
                for l in now.iter().copied().collect::<Vec<_>>() {
                    if Some(l) != mov_src {
                        g.edge(d, l);
                    }
                }
                if let Some(s) = mov_src {
                    g.prefer.entry(d).or_default().push(Preference::SameAs(s));
                    g.prefer.entry(s).or_default().push(Preference::SameAs(d));
                }
                if matches!(inst, Inst::Ctx { .. }) {
                    g.prefer.entry(d).or_default().push(Preference::Reg(1));
                }
                now.remove(&d);
            }
            for u in inst.uses() {
                g.node(u);
                *g.uses.entry(u).or_default() += 1;
                now.insert(u);
            }
        }
    }
    g
}

/// Colour the graph; the vregs that must be spilled when it does not fit.
fn color(g: &Graph) -> Result<HashMap<Vreg, u8>, Vec<Vreg>> {
    let k = |v: &Vreg| if g.across_call.contains(v) { CALLEE_SAVED.len() } else { ALL.len() };
    let mut degree: HashMap<Vreg, usize> = g.edges.iter().map(|(v, e)| (*v, e.len())).collect();
    let mut removed: HashSet<Vreg> = HashSet::new();
    let mut stack = Vec::new();
    let mut nodes: Vec<Vreg> = g.edges.keys().copied().collect();
    nodes.sort();
    while removed.len() < nodes.len() {
        let pick = nodes.iter().copied().find(|v| !removed.contains(v) && degree[v] < k(v)).unwrap_or_else(|| {
            // Optimistic: push the cheapest-to-spill node and hope a colour is left.
            nodes
                .iter()
                .copied()
                .filter(|v| !removed.contains(v))
                .max_by(|a, b| {
                    let cost = |v: &Vreg| degree[v] as f64 / (1.0 + *g.uses.get(v).unwrap_or(&0) as f64);
                    cost(a).total_cmp(&cost(b)).then(b.cmp(a))
                })
                .expect("a node remains")
        });
        removed.insert(pick);
        for n in &g.edges[&pick] {
            if let Some(d) = degree.get_mut(n) {
                *d = d.saturating_sub(1);
            }
        }
        stack.push(pick);
    }
    let mut colors: HashMap<Vreg, u8> = HashMap::new();
    let mut spills = Vec::new();
    while let Some(v) = stack.pop() {
        let taken: HashSet<u8> = g.edges[&v].iter().filter_map(|n| colors.get(n).copied()).collect();
        let allowed: &[u8] = if g.across_call.contains(&v) { &CALLEE_SAVED } else { &ALL };
        let preferred = g.prefer.get(&v).into_iter().flatten().find_map(|p| {
            let r = match p {
                Preference::SameAs(o) => *colors.get(o)?,
                Preference::Reg(r) => *r,
            };
            (allowed.contains(&r) && !taken.contains(&r)).then_some(r)
        });
        match preferred.or_else(|| allowed.iter().copied().find(|r| !taken.contains(r))) {
            Some(r) => {
                colors.insert(v, r);
            }
            None => spills.push(v),
        }
    }
    if spills.is_empty() {
        Ok(colors)
    } else {
        Err(spills)
    }
}

/// Rewrite every use and def of `v` through a fresh short-lived vreg and
/// stack slot `slot`.
fn spill(f: &mut Function, v: Vreg, slot: u32) {
    for block in &mut f.blocks {
        let mut out = Vec::with_capacity(block.insts.len());
        for (mut inst, span) in std::mem::take(&mut block.insts) {
            let used = inst.uses().contains(&v);
            let defined = inst.def() == Some(v);
            if !used && !defined {
                out.push((inst, span));
                continue;
            }
            let t = Vreg(f.vregs);
            f.vregs += 1;
            if used {
                out.push((Inst::Reload { dst: t, slot }, span));
            }
            let map = |r: Vreg| if r == v { t } else { r };
            inst.rename(&map, &map);
            out.push((inst, span));
            if defined {
                out.push((Inst::Spill { src: t, slot }, span));
            }
        }
        block.insts = out;
        spill_terminator(block, v, slot, &mut f.vregs);
    }
}

fn spill_terminator(block: &mut Block, v: Vreg, slot: u32, vregs: &mut u32) {
    use crate::ir::Terminator;
    if !block.term.0.uses().contains(&v) {
        return;
    }
    let t = Vreg(*vregs);
    *vregs += 1;
    block.insts.push((Inst::Reload { dst: t, slot }, block.term.1));
    match &mut block.term.0 {
        Terminator::Branch { lhs, rhs, .. } => {
            if *lhs == v {
                *lhs = t;
            }
            if *rhs == Operand::Reg(v) {
                *rhs = Operand::Reg(t);
            }
        }
        Terminator::Exit { value } => *value = Operand::Reg(t),
        Terminator::Jump(_) => {}
    }
}

/// Remove instructions whose result is never read (and drop unread call
/// results): codegen emits freely, this keeps the hot paths short and the
/// register pressure honest.
fn remove_dead_code(f: &mut Function, live: &[bool]) {
    loop {
        let live_out = liveness(f, live);
        let mut changed = false;
        for (b, block) in f.blocks.iter_mut().enumerate() {
            if !live[b] {
                continue;
            }
            let mut now = live_out[b].clone();
            now.extend(block.term.0.uses());
            let mut keep = vec![true; block.insts.len()];
            for (i, (inst, _)) in block.insts.iter_mut().enumerate().rev() {
                let dead_def = inst.def().is_some_and(|d| !now.contains(&d));
                let pure = matches!(
                    inst,
                    Inst::Mov { .. }
                        | Inst::LoadImm64 { .. }
                        | Inst::LoadMap { .. }
                        | Inst::Alu { .. }
                        | Inst::Neg { .. }
                        | Inst::Load { .. }
                        | Inst::StackAddr { .. }
                );
                if dead_def && pure {
                    keep[i] = false;
                    changed = true;
                    continue;
                }
                if dead_def {
                    if let Inst::Call { dst, .. } = inst {
                        *dst = None;
                    }
                }
                if let Some(d) = inst.def() {
                    now.remove(&d);
                }
                now.extend(inst.uses());
            }
            let mut it = keep.into_iter();
            block.insts.retain(|_| it.next().unwrap_or(true));
        }
        if !changed {
            return;
        }
    }
}

/// Allocate registers for `f`, spilling into at most `max_slots` stack
/// slots. `f` is rewritten with the spill code.
pub fn allocate(f: &mut Function, max_slots: u32) -> Result<Allocation, OutOfStack> {
    let live = reachable(f);
    remove_dead_code(f, &live);
    let mut slots = 0;
    let mut spilled: HashSet<Vreg> = HashSet::new();
    loop {
        let g = build(f, &live);
        match color(&g) {
            Ok(regs) => return Ok(Allocation { regs, spill_slots: slots }),
            Err(vs) => {
                let before = slots;
                let first = vs[0];
                for v in vs {
                    // A temporary made by an earlier spill cannot be spilled again
                    // usefully; spilling originals only keeps this finite.
                    if spilled.contains(&v) {
                        continue;
                    }
                    if slots >= max_slots {
                        return Err(OutOfStack { vreg: v });
                    }
                    spill(f, v, slots);
                    spilled.insert(v);
                    slots += 1;
                }
                if slots == before {
                    // Only spill temporaries failed: nothing more to spill.
                    return Err(OutOfStack { vreg: first });
                }
                // Fresh temporaries are never spilled; mark them.
                for t in 0..f.vregs {
                    if !g.edges.contains_key(&Vreg(t)) {
                        spilled.insert(Vreg(t));
                    }
                }
            }
        }
    }
}
