//! Helpers shared by the integration tests: frame constructors, tree walking
//! and an independent flamebearer decoder.
#![allow(dead_code)]

use std::collections::BTreeMap;

use vispyr_common::profile::Frame;
use vispyr_flamegraph::{FlameGraph, FlameGraphDiff, Level, NodeRef, Tree};

/// A frame with function, file and line.
pub fn frame(function: &str, file: &str, line: i64) -> Frame {
    Frame {
        function: function.to_owned(),
        file: file.to_owned(),
        line,
        mapping: String::new(),
    }
}

/// Every node below the root as `path → (self, total)`, `other` nodes
/// included (named `other`).
pub fn paths(tree: &Tree) -> BTreeMap<Vec<String>, (i64, i64)> {
    let mut out = BTreeMap::new();
    fn walk(
        node: NodeRef<'_>,
        path: &mut Vec<String>,
        out: &mut BTreeMap<Vec<String>, (i64, i64)>,
    ) {
        for child in node.children() {
            path.push(child.name().to_owned());
            let previous = out.insert(path.clone(), (child.self_value(), child.total_value()));
            assert!(previous.is_none(), "duplicate path {path:?}");
            walk(child, path, out);
            path.pop();
        }
    }
    walk(tree.root(), &mut Vec::new(), &mut out);
    out
}

/// Checks `total == self + Σ children totals` at every node.
pub fn assert_totals_consistent(tree: &Tree) {
    fn check(node: NodeRef<'_>) {
        let children: i64 = node.children().map(|child| child.total_value()).sum();
        assert_eq!(
            node.total_value(),
            node.self_value() + children,
            "node {:?}",
            node.name()
        );
        node.children().for_each(check);
    }
    check(tree.root());
}

/// `path → per side (self, total)`.
pub type SidesByPath = BTreeMap<Vec<String>, Vec<(i64, i64)>>;

/// One decoded node: absolute x, total and self per side, name.
#[derive(Debug, Clone)]
struct Decoded {
    x: Vec<i64>,
    total: Vec<i64>,
    self_value: Vec<i64>,
    name: String,
    path: Vec<String>,
}

/// Decodes delta-encoded levels with `sides` value triples per node, written
/// independently of the crate's encoder from Pyroscope's description, and
/// returns `path → per side (self, total)` for every node below the root, plus
/// the root's per-side (self, total).
pub fn decode_levels(
    names: &[String],
    levels: &[Level],
    sides: usize,
) -> (Vec<(i64, i64)>, SidesByPath) {
    let tuple = sides * 3 + 1;
    let mut decoded_levels: Vec<Vec<Decoded>> = Vec::new();
    for (depth, level) in levels.iter().enumerate() {
        assert_eq!(level.values.len() % tuple, 0, "level {depth} length");
        let mut previous_end = vec![0i64; sides];
        let mut nodes = Vec::new();
        for chunk in level.values.chunks(tuple) {
            let mut node = Decoded {
                x: Vec::new(),
                total: Vec::new(),
                self_value: Vec::new(),
                name: names[usize::try_from(chunk[tuple - 1]).unwrap()].clone(),
                path: Vec::new(),
            };
            for side in 0..sides {
                let x = chunk[side * 3] + previous_end[side];
                let total = chunk[side * 3 + 1];
                previous_end[side] = x + total;
                node.x.push(x);
                node.total.push(total);
                node.self_value.push(chunk[side * 3 + 2]);
            }
            nodes.push(node);
        }
        if depth > 0 {
            let parents = &decoded_levels[depth - 1];
            for node in &mut nodes {
                assert!(
                    node.total.iter().any(|&t| t > 0),
                    "zero-width node {}",
                    node.name
                );
                let candidates: Vec<&Decoded> = parents
                    .iter()
                    .filter(|parent| {
                        (0..sides).all(|s| {
                            let start = parent.x[s] + parent.self_value[s];
                            let end = parent.x[s] + parent.total[s];
                            let inside = node.x[s] >= start && node.x[s] + node.total[s] <= end;
                            // A side where the node is empty says nothing.
                            inside || node.total[s] == 0
                        }) && (0..sides).any(|s| {
                            node.total[s] > 0
                                && node.x[s] >= parent.x[s] + parent.self_value[s]
                                && node.x[s] + node.total[s] <= parent.x[s] + parent.total[s]
                        })
                    })
                    .collect();
                assert_eq!(
                    candidates.len(),
                    1,
                    "parent of {} at depth {depth}",
                    node.name
                );
                node.path = candidates[0].path.clone();
                node.path.push(node.name.clone());
            }
        }
        decoded_levels.push(nodes);
    }
    assert_eq!(decoded_levels[0].len(), 1, "one root");
    let root = &decoded_levels[0][0];
    assert_eq!(root.name, "total");
    let root_values = (0..sides)
        .map(|s| (root.self_value[s], root.total[s]))
        .collect();
    let mut out = BTreeMap::new();
    for level in decoded_levels.iter().skip(1) {
        for node in level {
            let values = (0..sides)
                .map(|s| (node.self_value[s], node.total[s]))
                .collect();
            let previous = out.insert(node.path.clone(), values);
            assert!(previous.is_none(), "duplicate path {:?}", node.path);
        }
    }
    (root_values, out)
}

/// Decodes a single flamegraph to `path → (self, total)`, checking the root.
pub fn decode_flame_graph(graph: &FlameGraph) -> BTreeMap<Vec<String>, (i64, i64)> {
    let (root, nodes) = decode_levels(&graph.names, &graph.levels, 1);
    assert_eq!(root[0].1, graph.total);
    nodes
        .into_iter()
        .map(|(path, values)| (path, values[0]))
        .collect()
}

/// Decodes a diff flamegraph to `path → [(left self, total), (right self, total)]`.
pub fn decode_flame_graph_diff(graph: &FlameGraphDiff) -> SidesByPath {
    let (root, nodes) = decode_levels(&graph.names, &graph.levels, 2);
    assert_eq!(root[0].1, graph.left_ticks);
    assert_eq!(root[1].1, graph.right_ticks);
    assert_eq!(graph.total, graph.left_ticks + graph.right_ticks);
    nodes
}
