//! [`DiffTree`]: two trees aligned node by node.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::arena::{Arena, ArenaNode, NodeValue};
use crate::intern::Interner;
use crate::tree::Tree;

/// Two trees (left = baseline, right = comparison) merged into one shape: a
/// node exists when it exists on either side, with zero values on the side
/// where it does not. Tags are not carried over.
#[derive(Debug, Clone)]
pub struct DiffTree {
    pub(crate) arena: Arena<[NodeValue; 2]>,
}

/// The sort key of a child: `other` last, then by name.
fn key(tree: &Arena<NodeValue>, id: u32) -> (bool, &str) {
    let node: &ArenaNode<NodeValue> = &tree.nodes[id as usize];
    (node.other, tree.names.get(node.name))
}

/// Aligns `baseline` (left) and `comparison` (right) by node name, path by path.
/// Build both trees with the same rules, and prune the result rather than the
/// inputs: `other` nodes only align with `other` nodes.
pub fn diff(baseline: &Tree, comparison: &Tree) -> DiffTree {
    let mut arena: Arena<[NodeValue; 2]> = Arena::new(Interner::default());
    let left = &baseline.arena;
    let right = &comparison.arena;
    arena.nodes[0].values = [left.nodes[0].values, right.nodes[0].values];
    let mut pending: Vec<(Option<u32>, Option<u32>, u32)> = vec![(Some(0), Some(0), 0)];
    while let Some((left_id, right_id, diff_id)) = pending.pop() {
        let left_children = left_id.map_or(&[][..], |id| &left.nodes[id as usize].children[..]);
        let right_children = right_id.map_or(&[][..], |id| &right.nodes[id as usize].children[..]);
        // Both child lists are sorted by (other, name): merge them.
        let (mut l, mut r) = (0, 0);
        while l < left_children.len() || r < right_children.len() {
            let left_child = left_children.get(l).copied();
            let right_child = right_children.get(r).copied();
            let order = match (left_child, right_child) {
                (Some(a), Some(b)) => key(left, a).cmp(&key(right, b)),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let (take_left, take_right) = match order {
                std::cmp::Ordering::Less => (left_child, None),
                std::cmp::Ordering::Greater => (None, right_child),
                std::cmp::Ordering::Equal => (left_child, right_child),
            };
            l += usize::from(take_left.is_some());
            r += usize::from(take_right.is_some());
            let (other, name) = match (take_left, take_right) {
                (Some(id), _) => key(left, id),
                (None, Some(id)) => key(right, id),
                (None, None) => unreachable!("one side always advances"),
            };
            let name_id = arena.names.intern(name);
            let child = arena.add_child(diff_id, name_id, other);
            arena.nodes[child as usize].values = [
                take_left.map_or_else(NodeValue::default, |id| left.nodes[id as usize].values),
                take_right.map_or_else(NodeValue::default, |id| right.nodes[id as usize].values),
            ];
            pending.push((take_left, take_right, child));
        }
    }
    DiffTree { arena }
}

/// Totals and size of a [`DiffTree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    /// The baseline's total.
    pub left_total: i64,
    /// The comparison's total.
    pub right_total: i64,
    /// Nodes besides the root, `other` nodes included.
    pub node_count: usize,
}

impl DiffTree {
    /// The synthetic root, named `total`.
    pub fn root(&self) -> DiffNodeRef<'_> {
        DiffNodeRef { tree: self, id: 0 }
    }

    /// The baseline's total.
    pub fn left_total(&self) -> i64 {
        self.arena.nodes[0].values[0].total_value
    }

    /// The comparison's total.
    pub fn right_total(&self) -> i64 {
        self.arena.nodes[0].values[1].total_value
    }

    /// Nodes besides the root, `other` nodes included.
    pub fn node_count(&self) -> usize {
        self.arena.node_count()
    }

    /// Totals and node count.
    pub fn summary(&self) -> DiffSummary {
        DiffSummary {
            left_total: self.left_total(),
            right_total: self.right_total(),
            node_count: self.node_count(),
        }
    }

    /// Like [`Tree::prune`], weighing a node by the larger of its two totals;
    /// `other` nodes sum each side separately.
    pub fn prune(&self, max_nodes: usize) -> DiffTree {
        DiffTree {
            arena: self.arena.prune(max_nodes),
        }
    }
}

/// A borrowed view of one node of a [`DiffTree`].
#[derive(Debug, Clone, Copy)]
pub struct DiffNodeRef<'t> {
    tree: &'t DiffTree,
    id: u32,
}

impl<'t> DiffNodeRef<'t> {
    fn node(&self) -> &'t ArenaNode<[NodeValue; 2]> {
        &self.tree.arena.nodes[self.id as usize]
    }

    /// Display name.
    pub fn name(&self) -> &'t str {
        self.tree.arena.name(self.id)
    }

    /// Baseline values (zero when the node is only in the comparison).
    pub fn left(&self) -> NodeValue {
        self.node().values[0]
    }

    /// Comparison values (zero when the node is only in the baseline).
    pub fn right(&self) -> NodeValue {
        self.node().values[1]
    }

    /// Whether this node stands for pruned children.
    pub fn is_other(&self) -> bool {
        self.node().other
    }

    /// Children, ordered by name with `other` last.
    pub fn children(&self) -> impl ExactSizeIterator<Item = DiffNodeRef<'t>> + 't {
        let tree = self.tree;
        self.node()
            .children
            .iter()
            .map(move |&id| DiffNodeRef { tree, id })
    }

    /// The child with this display name.
    pub fn child(&self, name: &str) -> Option<DiffNodeRef<'t>> {
        self.children()
            .find(|child| child.name() == name && !child.is_other())
    }
}

/// `{"name", "left_self", "left_total", "right_self", "right_total", "children"}`.
impl Serialize for DiffNodeRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let [left, right] = self.node().values;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", self.name())?;
        map.serialize_entry("left_self", &left.self_value)?;
        map.serialize_entry("left_total", &left.total_value)?;
        map.serialize_entry("right_self", &right.self_value)?;
        map.serialize_entry("right_total", &right.total_value)?;
        if self.is_other() {
            map.serialize_entry("other", &true)?;
        }
        map.serialize_entry("children", &DiffChildren(*self))?;
        map.end()
    }
}

struct DiffChildren<'t>(DiffNodeRef<'t>);

impl Serialize for DiffChildren<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let children = self.0.children();
        let mut seq = serializer.serialize_seq(Some(children.len()))?;
        for child in children {
            seq.serialize_element(&child)?;
        }
        seq.end()
    }
}

/// `{"summary": DiffSummary, "root": node}`.
impl Serialize for DiffTree {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("summary", &self.summary())?;
        map.serialize_entry("root", &self.root())?;
        map.end()
    }
}
