//! Folded ("collapsed") stack text, as read by `flamegraph.pl`, inferno and
//! Pyroscope's `/ingest?format=folded`.

use std::fmt::Write;

use crate::tree::Tree;

/// The line name for the root's own value: stacks whose every frame was hidden.
pub const HIDDEN_STACK_NAME: &str = "(hidden)";

impl Tree {
    /// One `a;b;c 123` line per node with a non-zero self value, root first, in
    /// tree order (names ascending), so the lines sum to [`Tree::total`].
    ///
    /// Names are as the view shows them; `;` and line breaks inside a name
    /// become `:` and a space, since the format cannot escape them. Value of
    /// stacks whose frames were all hidden is written as [`HIDDEN_STACK_NAME`].
    pub fn folded(&self) -> String {
        let nodes = &self.arena.nodes;
        let mut out = String::new();
        let root_self = nodes[0].values.self_value;
        if root_self != 0 {
            writeln!(out, "{HIDDEN_STACK_NAME} {root_self}")
                .expect("writing to a String cannot fail");
        }
        // Path of sanitized names; `prefix_lens[d]` is its length at depth d.
        let mut path = String::new();
        let mut prefix_lens: Vec<usize> = Vec::new();
        let mut pending: Vec<(u32, usize)> =
            nodes[0].children.iter().rev().map(|&c| (c, 0)).collect();
        while let Some((id, depth)) = pending.pop() {
            prefix_lens.truncate(depth);
            path.truncate(prefix_lens.last().copied().unwrap_or(0));
            if depth > 0 {
                path.push(';');
            }
            push_sanitized(&mut path, self.arena.name(id));
            prefix_lens.push(path.len());
            let node = &nodes[id as usize];
            if node.values.self_value != 0 {
                writeln!(out, "{path} {}", node.values.self_value)
                    .expect("writing to a String cannot fail");
            }
            pending.extend(node.children.iter().rev().map(|&c| (c, depth + 1)));
        }
        out
    }
}

fn push_sanitized(out: &mut String, name: &str) {
    for c in name.chars() {
        out.push(match c {
            ';' => ':',
            '\n' | '\r' => ' ',
            other => other,
        });
    }
}
