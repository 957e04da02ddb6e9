//! Spill code: every use and def of a spilled vreg goes through a fresh
//! short-lived vreg, reloaded from or stored to the vreg's stack slot.

use crate::ir::{Function, Inst, Operand, Terminator, Vreg};

/// Rewrite `f` in one pass for all spilled vregs: `slot_of[v]` is the slot
/// of vreg `v`, or `None`.
pub(super) fn rewrite(f: &mut Function, slot_of: &[Option<u32>]) {
    let slot = |v: Vreg| slot_of.get(v.0 as usize).copied().flatten();
    for block in &mut f.blocks {
        let mut out = Vec::with_capacity(block.insts.len());
        for (mut inst, span) in std::mem::take(&mut block.insts) {
            let mut temps: Vec<(Vreg, Vreg, u32)> = Vec::new();
            let mut temp_for = |v: Vreg, vregs: &mut u32| -> Option<Vreg> {
                let s = slot(v)?;
                if let Some((_, t, _)) = temps.iter().find(|(o, _, _)| *o == v) {
                    return Some(*t);
                }
                let t = Vreg(*vregs);
                *vregs += 1;
                temps.push((v, t, s));
                Some(t)
            };
            let used = inst.uses();
            let def = inst.def();
            for u in &used {
                temp_for(*u, &mut f.vregs);
            }
            let spilled_def = def.and_then(|d| temp_for(d, &mut f.vregs).map(|t| (t, slot(d).unwrap_or(0))));
            if temps.is_empty() {
                out.push((inst, span));
                continue;
            }
            for (v, t, s) in &temps {
                if used.contains(v) {
                    out.push((Inst::Reload { dst: *t, slot: *s }, span));
                }
            }
            let map = |r: Vreg| temps.iter().find(|(o, _, _)| *o == r).map_or(r, |(_, t, _)| *t);
            inst.rename(&map, &map);
            out.push((inst, span));
            if let Some((t, s)) = spilled_def {
                out.push((Inst::Spill { src: t, slot: s }, span));
            }
        }
        block.insts = out;
        let mut term_uses = block.term.0.uses();
        term_uses.dedup();
        for v in term_uses {
            let Some(s) = slot(v) else { continue };
            let t = Vreg(f.vregs);
            f.vregs += 1;
            block.insts.push((Inst::Reload { dst: t, slot: s }, block.term.1));
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
    }
}
