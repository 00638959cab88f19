//! The node arena shared by [`Tree`](crate::Tree) (one value per node) and
//! [`DiffTree`](crate::DiffTree) (two), with the operations both need: totals,
//! child ordering and pruning.
//!
//! Invariants once built: node 0 is the root; a parent's index is smaller than
//! its children's; children are ordered by name with the `other` node last;
//! every side's `total_value` is its `self_value` plus its children's totals.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::Serialize;

use crate::intern::Interner;
use crate::rules::TagId;

/// The name of the node that stands for children removed by pruning, as in
/// Pyroscope.
pub const OTHER_NAME: &str = "other";

/// The name of the root node, as in Pyroscope's flamebearer.
pub const ROOT_NAME: &str = "total";

/// One node's values: its own (`self`) and including descendants (`total`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct NodeValue {
    /// Value of stacks ending in this node.
    #[serde(rename = "self")]
    pub self_value: i64,
    /// Value of all stacks through this node.
    #[serde(rename = "total")]
    pub total_value: i64,
}

/// The values a node carries, one [`NodeValue`] per side (1 for a tree, 2 for
/// a diff).
pub(crate) trait Sides: Copy + Default {
    fn sides(&self) -> &[NodeValue];
    fn sides_mut(&mut self) -> &mut [NodeValue];
}

impl Sides for NodeValue {
    fn sides(&self) -> &[NodeValue] {
        std::slice::from_ref(self)
    }

    fn sides_mut(&mut self) -> &mut [NodeValue] {
        std::slice::from_mut(self)
    }
}

impl Sides for [NodeValue; 2] {
    fn sides(&self) -> &[NodeValue] {
        self
    }

    fn sides_mut(&mut self) -> &mut [NodeValue] {
        self
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ArenaNode<V> {
    pub(crate) name: u32,
    /// The root is its own parent.
    pub(crate) parent: u32,
    /// Stands for pruned children ([`OTHER_NAME`]).
    pub(crate) other: bool,
    pub(crate) tags: Vec<TagId>,
    pub(crate) children: Vec<u32>,
    pub(crate) values: V,
}

#[derive(Debug, Clone)]
pub(crate) struct Arena<V> {
    pub(crate) names: Interner,
    pub(crate) nodes: Vec<ArenaNode<V>>,
}

impl<V: Sides> Arena<V> {
    /// An arena with only the root.
    pub(crate) fn new(names: Interner) -> Arena<V> {
        let mut arena = Arena {
            names,
            nodes: Vec::new(),
        };
        let root_name = arena.names.intern(ROOT_NAME);
        arena.nodes.push(ArenaNode {
            name: root_name,
            parent: 0,
            other: false,
            tags: Vec::new(),
            children: Vec::new(),
            values: V::default(),
        });
        arena
    }

    pub(crate) fn add_child(&mut self, parent: u32, name: u32, other: bool) -> u32 {
        let id = u32::try_from(self.nodes.len()).expect("fewer than 2^32 nodes");
        debug_assert!(parent < id, "parents come before their children");
        self.nodes.push(ArenaNode {
            name,
            parent,
            other,
            tags: Vec::new(),
            children: Vec::new(),
            values: V::default(),
        });
        self.nodes[parent as usize].children.push(id);
        id
    }

    pub(crate) fn name(&self, id: u32) -> &str {
        self.names.get(self.nodes[id as usize].name)
    }

    /// Sets every total from the self values, bottom up.
    pub(crate) fn compute_totals(&mut self) {
        for node in &mut self.nodes {
            for side in node.values.sides_mut() {
                side.total_value = side.self_value;
            }
        }
        // Children come after their parent, so walking backwards finishes every
        // child before adding it to its parent.
        for id in (1..self.nodes.len()).rev() {
            let child_values = self.nodes[id].values;
            let parent = self.nodes[id].parent as usize;
            let parent_values = self.nodes[parent].values.sides_mut();
            for (side, child) in parent_values.iter_mut().zip(child_values.sides()) {
                side.total_value += child.total_value;
            }
        }
    }

    /// Orders every node's children by name, `other` last.
    pub(crate) fn sort_children(&mut self) {
        let mut nodes = std::mem::take(&mut self.nodes);
        let keys: Vec<(bool, &str)> = nodes
            .iter()
            .map(|node| (node.other, self.names.get(node.name)))
            .collect();
        for node in &mut nodes {
            node.children
                .sort_unstable_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
        }
        drop(keys);
        self.nodes = nodes;
    }

    /// Number of nodes besides the root, `other` nodes included.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len() - 1
    }

    /// The sum, per side, of the totals of `other` nodes.
    pub(crate) fn pruned(&self) -> V {
        let mut pruned = V::default();
        for node in self.nodes.iter().filter(|node| node.other) {
            for (sum, side) in pruned.sides_mut().iter_mut().zip(node.values.sides()) {
                sum.total_value += side.total_value;
                sum.self_value += side.self_value;
            }
        }
        pruned
    }

    /// Keeps at most `max_nodes` nodes besides the root, chosen greedily by
    /// weight (largest absolute total over the sides) from the root down, so a
    /// kept node's ancestors are always kept. Under each kept node, the dropped
    /// children (and any previous `other` node) are replaced by one `other` child
    /// whose self and total are their summed totals; totals are unchanged
    /// everywhere.
    ///
    /// So the result has at most `max_nodes` named nodes plus at most one
    /// `other` node per kept node (root included).
    pub(crate) fn prune(&self, max_nodes: usize) -> Arena<V> {
        let weight = |id: u32| -> u64 {
            self.nodes[id as usize]
                .values
                .sides()
                .iter()
                .map(|side| side.total_value.unsigned_abs())
                .max()
                .unwrap_or(0)
        };
        let mut kept = vec![false; self.nodes.len()];
        kept[0] = true;
        let mut frontier: BinaryHeap<(u64, Reverse<u32>)> = BinaryHeap::new();
        let push_children = |frontier: &mut BinaryHeap<(u64, Reverse<u32>)>, id: u32| {
            for &child in &self.nodes[id as usize].children {
                if !self.nodes[child as usize].other {
                    frontier.push((weight(child), Reverse(child)));
                }
            }
        };
        push_children(&mut frontier, 0);
        let mut budget = max_nodes;
        while budget > 0 {
            let Some((_, Reverse(id))) = frontier.pop() else {
                break;
            };
            kept[id as usize] = true;
            budget -= 1;
            push_children(&mut frontier, id);
        }

        let mut pruned = Arena {
            names: self.names.clone(),
            nodes: Vec::with_capacity(max_nodes.saturating_add(1).min(self.nodes.len())),
        };
        let other_name = pruned.names.intern(OTHER_NAME);
        pruned.nodes.push(self.nodes[0].clone_without_children());
        let mut pending: Vec<(u32, u32)> = vec![(0, 0)];
        while let Some((old_id, new_id)) = pending.pop() {
            let mut dropped = V::default();
            let mut any_dropped = false;
            for &child in &self.nodes[old_id as usize].children {
                let child_node = &self.nodes[child as usize];
                if kept[child as usize] {
                    let new_child = pruned.add_child(new_id, child_node.name, false);
                    let copy = &mut pruned.nodes[new_child as usize];
                    copy.values = child_node.values;
                    copy.tags.clone_from(&child_node.tags);
                    pending.push((child, new_child));
                    continue;
                }
                any_dropped = true;
                for (sum, side) in dropped
                    .sides_mut()
                    .iter_mut()
                    .zip(child_node.values.sides())
                {
                    sum.self_value += side.total_value;
                    sum.total_value += side.total_value;
                }
            }
            if any_dropped {
                let other = pruned.add_child(new_id, other_name, true);
                pruned.nodes[other as usize].values = dropped;
            }
        }
        pruned.sort_children();
        pruned
    }
}

impl<V: Copy> ArenaNode<V> {
    fn clone_without_children(&self) -> ArenaNode<V> {
        ArenaNode {
            name: self.name,
            parent: self.parent,
            other: self.other,
            tags: self.tags.clone(),
            children: Vec::new(),
            values: self.values,
        }
    }
}
