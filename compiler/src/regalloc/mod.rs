//! Register allocation: liveness over the control-flow graph, an
//! interference graph, Chaitin-style colouring onto r1–r9 (r6–r9 for values
//! alive across helper calls, which clobber r0–r5), and spilling to stack
//! slots with retries until everything fits. r0 is kept free: it carries
//! call results and return values and breaks parallel-move cycles.
//!
//! Everything is indexed by vreg number and linear in the function's size
//! per round; rounds are bounded by the stack slots, and more live values
//! than registers plus slots fail at once.

mod graph;
mod liveness;
mod spill;

use crate::ir::{Function, Inst, Vreg};

pub use liveness::Edges;
use liveness::LiveSet;

pub struct Allocation {
    /// Physical register of each virtual register, by number (0: none).
    pub regs: Vec<u8>,
    /// Number of 8-byte spill slots used.
    pub spill_slots: u32,
}

impl Allocation {
    pub fn reg(&self, v: Vreg) -> u8 {
        self.regs.get(v.0 as usize).copied().unwrap_or(0)
    }
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

/// Instructions whose only effect is their result.
fn pure(inst: &Inst) -> bool {
    matches!(
        inst,
        Inst::Mov { .. }
            | Inst::LoadImm64 { .. }
            | Inst::LoadMap { .. }
            | Inst::Alu { .. }
            | Inst::Neg { .. }
            | Inst::Load { .. }
            | Inst::StackAddr { .. }
    )
}

/// Remove instructions whose result is never read (and drop unread call
/// results): codegen emits freely, this keeps the hot paths short and the
/// register pressure honest.
/// Without loops, the liveness found on the way is returned: `allocate`
/// starts from it.
pub fn remove_dead_code(f: &mut Function) -> Option<Edges> {
    let (order, cyclic) = liveness::order(f);
    if !cyclic {
        // Successors first: each block's live-out is final when it is swept,
        // so one backward pass removes everything dead.
        let n = f.blocks.len();
        let (mut live_in, mut live_out): (Vec<liveness::Set>, Vec<liveness::Set>) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        let mut now = LiveSet::new(f.vregs);
        for &b in &order {
            let out = f.blocks[b].term.0.successors().iter().fold(Vec::new(), |acc, s| liveness::union(&acc, &live_in[*s]));
            sweep(&mut f.blocks[b], &out, &mut now);
            live_in[b] = now.to_set();
            live_out[b] = out;
        }
        return Some(Edges { order, live_in, live_out });
    }
    let live = reachable(f);
    let mut now = LiveSet::new(f.vregs);
    loop {
        let Ok(live_out) = liveness::live_out(f, usize::MAX) else { return None };
        let mut changed = false;
        for (b, block) in f.blocks.iter_mut().enumerate() {
            if live[b] {
                changed |= sweep(block, &live_out[b], &mut now);
            }
        }
        if !changed {
            return None;
        }
    }
}

/// Remove the dead instructions of `block`, walking back from what is live
/// at its end (`live_out`); `now` is left holding what is live at its
/// start. Whether any was removed.
fn sweep(block: &mut crate::ir::Block, live_out: &[u32], now: &mut LiveSet) -> bool {
    now.reset(live_out);
    block.term.0.uses().into_iter().for_each(|u| now.insert(u));
    let mut keep = vec![true; block.insts.len()];
    let mut changed = false;
    for (i, (inst, _)) in block.insts.iter_mut().enumerate().rev() {
        let dead_def = inst.def().is_some_and(|d| !now.contains(d));
        if dead_def && pure(inst) {
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
            now.remove(d);
        }
        inst.uses().into_iter().for_each(|u| now.insert(u));
    }
    let mut it = keep.into_iter();
    block.insts.retain(|_| it.next().unwrap_or(true));
    changed
}

/// Allocate registers for `f`, spilling into at most `max_slots` stack
/// slots, after `remove_dead_code` (`known`: the liveness it found). `f` is
/// rewritten with the spill code.
pub fn allocate(f: &mut Function, max_slots: u32, mut known: Option<Edges>) -> Result<Allocation, OutOfStack> {
    let live = reachable(f);
    let limit = graph::capacity(max_slots);
    let mut slots = 0;
    // Vregs that must not be spilled: spilled ones and their temporaries.
    let mut spilled: Vec<bool> = vec![false; f.vregs as usize];
    loop {
        let live_out = match known.take() {
            Some(edges) => edges.live_out(limit),
            None => liveness::live_out(f, limit),
        }
        .map_err(|vreg| OutOfStack { vreg })?;
        let g = graph::build(f, &live, &live_out, limit).map_err(|vreg| OutOfStack { vreg })?;
        match graph::color(&g) {
            Ok(regs) => return Ok(Allocation { regs, spill_slots: slots }),
            Err(vs) => {
                let mut slot_of: Vec<Option<u32>> = vec![None; f.vregs as usize];
                for &v in &vs {
                    // A temporary made by an earlier spill cannot be spilled again
                    // usefully; spilling originals only keeps this finite.
                    if spilled[v.0 as usize] {
                        continue;
                    }
                    if slots >= max_slots {
                        return Err(OutOfStack { vreg: v });
                    }
                    slot_of[v.0 as usize] = Some(slots);
                    spilled[v.0 as usize] = true;
                    slots += 1;
                }
                if slot_of.iter().all(Option::is_none) {
                    // Only spill temporaries failed: nothing more to spill.
                    return Err(OutOfStack { vreg: vs[0] });
                }
                spill::rewrite(f, &slot_of);
                // Fresh temporaries are never spilled; mark them.
                spilled.resize(f.vregs as usize, true);
            }
        }
    }
}
