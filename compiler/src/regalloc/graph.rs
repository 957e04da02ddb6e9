//! The interference graph and its Chaitin-style colouring onto r1–r9
//! (r6–r9 for values alive across helper calls), all indexed densely by
//! vreg number.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::liveness::{LiveSet, Set};
use crate::ir::{Function, Inst, Operand, Vreg};

/// Registers that helper calls preserve.
const CALLEE_SAVED: [u8; 4] = [6, 7, 8, 9];
const ALL: [u8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

/// At most this many values can be live at once: one per register, one
/// per stack slot.
pub(super) fn capacity(max_slots: u32) -> usize {
    ALL.len() + max_slots as usize
}

#[derive(Clone, Copy)]
enum Preference {
    SameAs(Vreg),
    Reg(u8),
}

pub(super) struct Graph {
    /// Neighbours of each vreg, sorted and deduplicated.
    edges: Vec<Vec<u32>>,
    /// Whether the vreg occurs in the function at all.
    present: Vec<bool>,
    /// Alive across a helper call: must sit in r6–r9.
    across_call: Vec<bool>,
    /// Move-related pairs and call-argument positions, to bias colours.
    prefer: Vec<Vec<Preference>>,
    uses: Vec<u32>,
}

impl Graph {
    fn new(vregs: u32) -> Graph {
        let n = vregs as usize;
        Graph { edges: vec![Vec::new(); n], present: vec![false; n], across_call: vec![false; n], prefer: vec![Vec::new(); n], uses: vec![0; n] }
    }

    fn edge(&mut self, a: Vreg, b: Vreg) {
        if a != b {
            self.edges[a.0 as usize].push(b.0);
            self.edges[b.0 as usize].push(a.0);
        }
    }

    fn used(&mut self, v: Vreg) {
        self.present[v.0 as usize] = true;
        self.uses[v.0 as usize] += 1;
    }

    fn k(&self, v: usize) -> usize {
        if self.across_call[v] {
            CALLEE_SAVED.len()
        } else {
            ALL.len()
        }
    }
}

/// Build the graph of the reachable blocks from their live-out sets. `Err`
/// with a vreg where more than `limit` values are live at once.
pub(super) fn build(f: &Function, reachable: &[bool], live_out: &[Set], limit: usize) -> Result<Graph, Vreg> {
    let mut g = Graph::new(f.vregs);
    let mut now = LiveSet::new(f.vregs);
    for (b, block) in f.blocks.iter().enumerate() {
        if !reachable[b] {
            continue;
        }
        now.reset(&live_out[b]);
        for u in block.term.0.uses() {
            g.used(u);
            now.insert(u);
        }
        for (inst, _) in block.insts.iter().rev() {
            let def = inst.def();
            if let Inst::Call { args, .. } = inst {
                for v in now.iter().filter(|v| Some(*v) != def) {
                    g.across_call[v.0 as usize] = true;
                }
                for (i, a) in args.iter().enumerate() {
                    if let Operand::Reg(r) = a {
                        g.prefer[r.0 as usize].push(Preference::Reg(i as u8 + 1));
                    }
                }
            }
            if let Some(d) = def {
                g.present[d.0 as usize] = true;
                let mov_src = match inst {
                    Inst::Mov { src: Operand::Reg(s), .. } => Some(*s),
                    _ => None,
                };
                for l in now.iter().filter(|l| Some(*l) != mov_src).collect::<Vec<_>>() {
                    g.edge(d, l);
                }
                if let Some(s) = mov_src {
                    g.prefer[d.0 as usize].push(Preference::SameAs(s));
                    g.prefer[s.0 as usize].push(Preference::SameAs(d));
                }
                if matches!(inst, Inst::Ctx { .. }) {
                    g.prefer[d.0 as usize].push(Preference::Reg(1));
                }
                now.remove(d);
            }
            for u in inst.uses() {
                g.used(u);
                now.insert(u);
            }
            if now.len() > limit {
                return Err(now.iter().max().unwrap_or(Vreg(0)));
            }
        }
    }
    for e in &mut g.edges {
        e.sort_unstable();
        e.dedup();
    }
    Ok(g)
}

/// A spill candidate: higher degree per use first, then the lowest vreg.
#[derive(PartialEq)]
struct Candidate {
    cost: f64,
    degree: usize,
    vreg: Reverse<u32>,
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cost.total_cmp(&other.cost).then(self.vreg.cmp(&other.vreg))
    }
}

/// The order to colour in (Chaitin's simplify): repeatedly remove the
/// lowest-numbered node with fewer neighbours than registers, or else the
/// cheapest to spill, optimistically. Degrees only fall, so both choices
/// come from heaps: stale spill candidates are re-queued when popped.
fn simplify(g: &Graph) -> Vec<u32> {
    let nodes: Vec<usize> = (0..g.edges.len()).filter(|v| g.present[*v]).collect();
    let mut degree: Vec<usize> = g.edges.iter().map(Vec::len).collect();
    let mut removed = vec![false; g.edges.len()];
    let cost = |v: usize, d: usize| d as f64 / (1.0 + g.uses[v] as f64);
    let candidate = |v: usize, d: usize| Candidate { cost: cost(v, d), degree: d, vreg: Reverse(v as u32) };
    let mut low: BinaryHeap<Reverse<u32>> = nodes.iter().filter(|v| degree[**v] < g.k(**v)).map(|v| Reverse(*v as u32)).collect();
    let mut spills: BinaryHeap<Candidate> = nodes.iter().map(|v| candidate(*v, degree[*v])).collect();
    let mut stack = Vec::with_capacity(nodes.len());
    while stack.len() < nodes.len() {
        let pick = match low.pop() {
            Some(Reverse(v)) => v as usize,
            None => loop {
                let Some(c) = spills.pop() else { return stack };
                let v = c.vreg.0 as usize;
                if removed[v] {
                    continue;
                }
                if c.degree != degree[v] {
                    spills.push(candidate(v, degree[v]));
                    continue;
                }
                break v;
            },
        };
        if removed[pick] {
            continue;
        }
        removed[pick] = true;
        for &n in &g.edges[pick] {
            let n = n as usize;
            if removed[n] {
                continue;
            }
            degree[n] = degree[n].saturating_sub(1);
            if degree[n] + 1 == g.k(n) {
                low.push(Reverse(n as u32));
            }
        }
        stack.push(pick as u32);
    }
    stack
}

/// Colour the graph (`regs[v]`, 0 for a vreg not in the function); the
/// vregs that must be spilled when it does not fit.
pub(super) fn color(g: &Graph) -> Result<Vec<u8>, Vec<Vreg>> {
    let mut colors = vec![0u8; g.edges.len()];
    let mut spills = Vec::new();
    for v in simplify(g).into_iter().rev().map(|v| v as usize) {
        let mut taken = [false; 10];
        for &n in &g.edges[v] {
            taken[colors[n as usize] as usize] = true;
        }
        let free = |r: u8| r != 0 && !taken[r as usize];
        let allowed: &[u8] = if g.across_call[v] { &CALLEE_SAVED } else { &ALL };
        let preferred = g.prefer[v].iter().find_map(|p| {
            let r = match p {
                Preference::SameAs(o) => colors[o.0 as usize],
                Preference::Reg(r) => *r,
            };
            (allowed.contains(&r) && free(r)).then_some(r)
        });
        match preferred.or_else(|| allowed.iter().copied().find(|r| free(*r))) {
            Some(r) => colors[v] = r,
            None => spills.push(Vreg(v as u32)),
        }
    }
    if spills.is_empty() {
        Ok(colors)
    } else {
        Err(spills)
    }
}
