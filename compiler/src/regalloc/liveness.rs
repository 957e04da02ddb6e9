//! Liveness over the control-flow graph, on sorted vectors of vreg numbers
//! (live sets stay small: anything wider than the registers plus the stack
//! slots cannot be allocated, and the caller stops there).

use crate::ir::{Function, Vreg};

/// Sorted, deduplicated vreg numbers.
pub(super) type Set = Vec<u32>;

/// Blocks in post-order from the entry (successors before predecessors),
/// so one pass settles an acyclic graph.
fn post_order(f: &Function) -> Vec<usize> {
    let mut seen = vec![false; f.blocks.len()];
    let mut order = Vec::new();
    let mut stack = vec![(0usize, false)];
    while let Some((b, done)) = stack.pop() {
        if done {
            order.push(b);
            continue;
        }
        if b >= seen.len() || seen[b] {
            continue;
        }
        seen[b] = true;
        stack.push((b, true));
        stack.extend(f.blocks[b].term.0.successors().into_iter().map(|s| (s, false)));
    }
    order
}

fn sorted(mut v: Vec<u32>) -> Set {
    v.sort_unstable();
    v.dedup();
    v
}

/// The union of two sorted sets, in one merge.
pub(super) fn union(a: &[u32], b: &[u32]) -> Set {
    if a.is_empty() || b.is_empty() {
        return if a.is_empty() { b.to_vec() } else { a.to_vec() };
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        out.push(x.min(y));
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Upward-exposed uses and definitions of each block.
fn local_sets(f: &Function) -> (Vec<Set>, Vec<Set>) {
    // `stamp[v] == b + 1`: `v` was defined earlier in block `b`.
    let mut stamp = vec![0usize; f.vregs as usize];
    let mark = |stamp: &mut Vec<usize>, v: Vreg, b: usize| {
        if v.0 as usize >= stamp.len() {
            stamp.resize(v.0 as usize + 1, 0);
        }
        stamp[v.0 as usize] = b + 1;
    };
    let mut uses = Vec::with_capacity(f.blocks.len());
    let mut defs = Vec::with_capacity(f.blocks.len());
    for (b, block) in f.blocks.iter().enumerate() {
        let (mut u, mut d) = (Vec::new(), Vec::new());
        let exposed = |stamp: &Vec<usize>, v: Vreg| stamp.get(v.0 as usize) != Some(&(b + 1));
        for (inst, _) in &block.insts {
            u.extend(inst.uses().into_iter().filter(|v| exposed(&stamp, *v)).map(|v| v.0));
            if let Some(v) = inst.def() {
                mark(&mut stamp, v, b);
                d.push(v.0);
            }
        }
        u.extend(block.term.0.uses().into_iter().filter(|v| exposed(&stamp, *v)).map(|v| v.0));
        uses.push(sorted(u));
        defs.push(sorted(d));
    }
    (uses, defs)
}

/// Blocks reachable from the entry in post-order, and whether an edge
/// goes back (a loop). Without one, successors come first, and a single
/// pass in this order settles liveness.
pub(super) fn order(f: &Function) -> (Vec<usize>, bool) {
    let order = post_order(f);
    let mut rank = vec![usize::MAX; f.blocks.len()];
    for (i, &b) in order.iter().enumerate() {
        rank[b] = i;
    }
    let cyclic = order.iter().any(|&b| f.blocks[b].term.0.successors().iter().any(|s| rank[*s] >= rank[b]));
    (order, cyclic)
}

/// Live sets at the edges of the reachable blocks, known from an earlier
/// pass over a function that has not changed since (`remove_dead_code`).
pub struct Edges {
    pub(super) order: Vec<usize>,
    pub(super) live_in: Vec<Set>,
    pub(super) live_out: Vec<Set>,
}

impl Edges {
    /// What `live_out` gives for the same function.
    pub(super) fn live_out(self, limit: usize) -> Result<Vec<Set>, Vreg> {
        for &b in &self.order {
            for set in [&self.live_in[b], &self.live_out[b]] {
                if set.len() > limit {
                    return Err(Vreg(set[set.len() - 1]));
                }
            }
        }
        Ok(self.live_out)
    }
}

/// Live-out sets of every block reachable from the entry. `Err` with one
/// of them as soon as more than `limit` values are live at a block's edge.
pub(super) fn live_out(f: &Function, limit: usize) -> Result<Vec<Set>, Vreg> {
    let (uses, defs) = local_sets(f);
    let (order, cyclic) = order(f);
    let n = f.blocks.len();
    let mut live_in: Vec<Set> = vec![Vec::new(); n];
    let mut live_out: Vec<Set> = vec![Vec::new(); n];
    let mut changed = true;
    while changed {
        changed = false;
        for &b in &order {
            let out = f.blocks[b].term.0.successors().iter().fold(Vec::new(), |acc, s| union(&acc, &live_in[*s]));
            let kept: Vec<u32> = out.iter().copied().filter(|v| defs[b].binary_search(v).is_err()).collect();
            let inn = union(&kept, &uses[b]);
            // The newest value (highest number) names where pressure peaks.
            for set in [&inn, &out] {
                if set.len() > limit {
                    return Err(Vreg(set[set.len() - 1]));
                }
            }
            if inn != live_in[b] || out != live_out[b] {
                live_in[b] = inn;
                live_out[b] = out;
                changed = cyclic;
            }
        }
    }
    Ok(live_out)
}

/// The values live at one point while walking a block backwards: O(1)
/// insert, remove and membership, iteration over the members only.
pub(super) struct LiveSet {
    /// Position of each vreg in `members`, or `u32::MAX`.
    pos: Vec<u32>,
    members: Vec<u32>,
}

impl LiveSet {
    pub(super) fn new(vregs: u32) -> LiveSet {
        LiveSet { pos: vec![u32::MAX; vregs as usize], members: Vec::new() }
    }

    /// Start over from `set`.
    pub(super) fn reset(&mut self, set: &[u32]) {
        for v in self.members.drain(..) {
            self.pos[v as usize] = u32::MAX;
        }
        for &v in set {
            self.insert(Vreg(v));
        }
    }

    pub(super) fn contains(&self, v: Vreg) -> bool {
        self.pos.get(v.0 as usize).is_some_and(|p| *p != u32::MAX)
    }

    pub(super) fn insert(&mut self, v: Vreg) {
        if v.0 as usize >= self.pos.len() {
            self.pos.resize(v.0 as usize + 1, u32::MAX);
        }
        if self.pos[v.0 as usize] == u32::MAX {
            self.pos[v.0 as usize] = self.members.len() as u32;
            self.members.push(v.0);
        }
    }

    pub(super) fn remove(&mut self, v: Vreg) {
        let Some(&p) = self.pos.get(v.0 as usize) else { return };
        if p == u32::MAX {
            return;
        }
        self.members.swap_remove(p as usize);
        if let Some(&moved) = self.members.get(p as usize) {
            self.pos[moved as usize] = p;
        }
        self.pos[v.0 as usize] = u32::MAX;
    }

    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// The members, sorted.
    pub(super) fn to_set(&self) -> Set {
        sorted(self.members.clone())
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Vreg> + '_ {
        self.members.iter().map(|v| Vreg(*v))
    }
}

#[cfg(test)]
mod tests {
    use super::union;

    #[test]
    fn union_merges_sorted_sets() {
        assert_eq!(union(&[1, 3, 5], &[2, 3, 6, 9]), vec![1, 2, 3, 5, 6, 9]);
        assert_eq!(union(&[], &[4]), vec![4]);
        assert_eq!(union(&[7], &[]), vec![7]);
    }
}
