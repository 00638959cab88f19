//! The function table: self and total value per display name.

use serde::Serialize;

use crate::tree::Tree;

/// One row of [`Tree::table`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionRow {
    /// Display name (after the view rules).
    pub name: String,
    /// Value of stacks whose leaf is this function.
    #[serde(rename = "self")]
    pub self_value: i64,
    /// Value of stacks containing this function, each stack counted once even
    /// when the function recurses.
    #[serde(rename = "total")]
    pub total_value: i64,
}

impl Tree {
    /// Self and total value per display name, ordered by self (descending), then
    /// total (descending), then name. The root is not a row; pruned `other`
    /// nodes add up in a row named `other`.
    pub fn table(&self) -> Vec<FunctionRow> {
        let nodes = &self.arena.nodes;
        let name_count = nodes
            .iter()
            .map(|node| node.name as usize + 1)
            .max()
            .unwrap_or(0);
        let mut self_values = vec![0i64; name_count];
        let mut total_values = vec![0i64; name_count];
        let mut seen = vec![false; name_count];
        // How often each name is on the path from the root to the current node:
        // a node adds its total only when its name is not on the path above it,
        // so a recursive function's stacks are counted once.
        let mut on_path = vec![0u32; name_count];
        // (node, entering): leaving pops the node's name off the path.
        let mut pending: Vec<(u32, bool)> =
            nodes[0].children.iter().rev().map(|&c| (c, true)).collect();
        while let Some((id, entering)) = pending.pop() {
            let node = &nodes[id as usize];
            let name = node.name as usize;
            if !entering {
                on_path[name] -= 1;
                continue;
            }
            seen[name] = true;
            self_values[name] += node.values.self_value;
            if on_path[name] == 0 {
                total_values[name] += node.values.total_value;
            }
            on_path[name] += 1;
            pending.push((id, false));
            pending.extend(node.children.iter().rev().map(|&c| (c, true)));
        }
        let mut rows: Vec<FunctionRow> = (0..name_count)
            .filter(|&name| seen[name])
            .map(|name| FunctionRow {
                name: self
                    .arena
                    .names
                    .get(u32::try_from(name).expect("name ids are u32"))
                    .to_owned(),
                self_value: self_values[name],
                total_value: total_values[name],
            })
            .collect();
        rows.sort_by(|a, b| {
            b.self_value
                .cmp(&a.self_value)
                .then(b.total_value.cmp(&a.total_value))
                .then_with(|| a.name.cmp(&b.name))
        });
        rows
    }
}
