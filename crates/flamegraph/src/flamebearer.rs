//! Pyroscope's flamegraph wire format (`querier.v1.FlameGraph` and
//! `FlameGraphDiff`), as returned by `SelectMergeStacktraces` /
//! `Diff` and drawn by Grafana's flame graph panel.
//!
//! Each level (depth) lists its nodes left to right as fixed-size tuples:
//!
//! ```text
//! FlameGraph      [x, total, self, name]                                   (4 values)
//! FlameGraphDiff  [x_left, total_left, self_left,
//!                  x_right, total_right, self_right, name]                 (7 values)
//! ```
//!
//! `name` indexes `names` (`names[0]` is the root, `total`). A node spans
//! `[x, x + total)`; its own value comes first, then its children in order, so
//! the first child starts at `x + self`. Every `x` is delta-encoded against the
//! end of the previous node in the same level (`x - (prev_x + prev_total)`,
//! the first against 0); in a diff each side's `x` is encoded on its own,
//! against that side's previous total. This is Pyroscope's
//! `pkg/model/flamegraph.go` / `flamegraph_diff.go` encoding.
//!
//! The messages carry both prost (binary protobuf, field numbers of
//! `api/querier/v1/querier.proto`) and serde (protojson field names, int64
//! written as JSON numbers) derives.

use serde::{Deserialize, Serialize};

use crate::arena::{Arena, Sides};
use crate::diff::DiffTree;
use crate::tree::Tree;

/// `querier.v1.Level`: one depth of the flamegraph.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
pub struct Level {
    /// Flattened node tuples, see the module docs.
    #[prost(int64, repeated, tag = "1")]
    pub values: Vec<i64>,
}

/// `querier.v1.FlameGraph`.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlameGraph {
    /// Distinct node names; `names[0]` is `total`.
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
    /// One entry per depth, root first.
    #[prost(message, repeated, tag = "2")]
    pub levels: Vec<Level>,
    /// The root's total.
    #[prost(int64, tag = "3")]
    pub total: i64,
    /// The largest self value of any node.
    #[prost(int64, tag = "4")]
    pub max_self: i64,
}

/// `querier.v1.FlameGraphDiff`: left is the baseline, right the comparison.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlameGraphDiff {
    /// Distinct node names; `names[0]` is `total`.
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
    /// One entry per depth, root first, 7 values per node.
    #[prost(message, repeated, tag = "2")]
    pub levels: Vec<Level>,
    /// `left_ticks + right_ticks`.
    #[prost(int64, tag = "3")]
    pub total: i64,
    /// The largest self value of any node on either side.
    #[prost(int64, tag = "4")]
    pub max_self: i64,
    /// The baseline's total.
    #[prost(int64, tag = "5")]
    pub left_ticks: i64,
    /// The comparison's total.
    #[prost(int64, tag = "6")]
    pub right_ticks: i64,
}

impl Tree {
    /// The tree in Pyroscope's flamegraph format. Prune first
    /// ([`Tree::prune`]) to bound its size, as Pyroscope's `max_nodes` does.
    pub fn flame_graph(&self) -> FlameGraph {
        let (names, levels, max_self) = encode(&self.arena);
        FlameGraph {
            names,
            levels,
            total: self.total(),
            max_self,
        }
    }
}

impl DiffTree {
    /// The diff in Pyroscope's diff flamegraph format. Prune first
    /// ([`DiffTree::prune`]) to bound its size.
    pub fn flame_graph_diff(&self) -> FlameGraphDiff {
        let (names, levels, max_self) = encode(&self.arena);
        let left_ticks = self.left_total();
        let right_ticks = self.right_total();
        FlameGraphDiff {
            names,
            levels,
            total: left_ticks + right_ticks,
            max_self,
            left_ticks,
            right_ticks,
        }
    }
}

/// Names, delta-encoded levels and max self value of an arena.
fn encode<V: Sides>(arena: &Arena<V>) -> (Vec<String>, Vec<Level>, i64) {
    let sides = V::default().sides().len();
    let tuple_len = sides * 3 + 1;
    let mut names = Vec::new();
    // Arena name id → index in `names`.
    let mut name_index: Vec<Option<i64>> = Vec::new();
    let mut levels: Vec<Level> = Vec::new();
    let mut max_self = 0i64;
    // Pre-order walk visiting the last child first, as Pyroscope does, so the
    // `names` order matches Pyroscope's byte for byte; every level then lists its
    // nodes right to left and is reversed below.
    let mut pending: Vec<(u32, usize, [i64; 2])> = vec![(0, 0, [0, 0])];
    let mut children_buf: Vec<(u32, usize, [i64; 2])> = Vec::new();
    while let Some((id, depth, x)) = pending.pop() {
        let node = &arena.nodes[id as usize];
        let values = node.values.sides();
        let name_id = node.name as usize;
        if name_index.len() <= name_id {
            name_index.resize(name_id + 1, None);
        }
        let index = *name_index[name_id].get_or_insert_with(|| {
            names.push(arena.names.get(node.name).to_owned());
            i64::try_from(names.len() - 1).expect("name count fits i64")
        });
        if levels.len() == depth {
            levels.push(Level::default());
        }
        let level = &mut levels[depth].values;
        let mut child_x = x;
        for (side, value) in values.iter().enumerate() {
            level.extend([x[side], value.total_value, value.self_value]);
            max_self = max_self.max(value.self_value);
            child_x[side] += value.self_value;
        }
        level.push(index);
        children_buf.clear();
        for &child in &node.children {
            children_buf.push((child, depth + 1, child_x));
            for (side, value) in arena.nodes[child as usize]
                .values
                .sides()
                .iter()
                .enumerate()
            {
                child_x[side] += value.total_value;
            }
        }
        pending.append(&mut children_buf);
    }
    for level in &mut levels {
        level.values = level
            .values
            .rchunks_exact(tuple_len)
            .flatten()
            .copied()
            .collect();
        for side in 0..sides {
            let mut previous_end = 0i64;
            for tuple in level.values.chunks_exact_mut(tuple_len) {
                let x = tuple[side * 3];
                let total = tuple[side * 3 + 1];
                tuple[side * 3] = x - previous_end;
                previous_end = x + total;
            }
        }
    }
    (names, levels, max_self)
}
