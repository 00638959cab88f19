//! [`Tree`]: stacks merged by display name through a view's rules.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use vispyr_common::profile::Frame;

use crate::arena::{Arena, NodeValue};
use crate::intern::{FxHashMap, Interner};
use crate::rules::{CompiledRules, RunMerger, Step, TagDef, TagId};

/// A call tree: every stack (root first) is a path from the synthetic root
/// (named `total`); children are merged by display name (after the view rules)
/// and ordered by name, with the pruning `other` node last.
///
/// The root's `total_value` is the sum of all stack values, whatever the rules
/// (hidden frames hand their value to their caller; a stack whose frames are all
/// hidden counts as the root's self value).
#[derive(Debug, Clone)]
pub struct Tree {
    pub(crate) arena: Arena<NodeValue>,
    pub(crate) tags: Vec<TagDef>,
}

/// A frame interned by a [`TreeBuilder`]; cheap to copy and compare. Only valid
/// with the builder that returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameKey(u32);

/// How one distinct frame looks through the rules, with names interned.
#[derive(Debug, Clone)]
struct FrameView {
    hidden: bool,
    collapse: Option<(u32, u32)>,
    name: u32,
    tags: Vec<TagId>,
}

/// Builds a [`Tree`] stack by stack.
///
/// Rules run once per distinct frame (cached by frame value); the per-stack work
/// is one hash lookup per frame for the frame and one per kept frame for the
/// child node. Callers that already have frame ids (a location table) can
/// intern each frame once with [`TreeBuilder::intern`] and add stacks of
/// [`FrameKey`]s, which skips hashing the frame strings.
#[derive(Debug)]
pub struct TreeBuilder<'r> {
    rules: &'r CompiledRules,
    frame_keys: FxHashMap<Frame, FrameKey>,
    views: Vec<FrameView>,
    /// Tag id → interned tag name, for `group_by: tag`.
    tag_names: Vec<u32>,
    arena: Arena<NodeValue>,
    /// `(parent node, name)` → child node.
    child_index: FxHashMap<(u32, u32), u32>,
    /// The previous stack's keys, and the node and run state after each.
    last_keys: Vec<FrameKey>,
    last_walk: Vec<(u32, RunMerger<(u32, u32)>)>,
    /// Reused by [`TreeBuilder::add`].
    keys_buf: Vec<FrameKey>,
}

impl<'r> TreeBuilder<'r> {
    /// An empty tree viewed through `rules`.
    pub fn new(rules: &'r CompiledRules) -> TreeBuilder<'r> {
        let mut arena = Arena::new(Interner::default());
        let tag_names = rules
            .tags()
            .iter()
            .map(|tag| arena.names.intern(&tag.name))
            .collect();
        TreeBuilder {
            rules,
            frame_keys: FxHashMap::default(),
            views: Vec::new(),
            tag_names,
            arena,
            child_index: FxHashMap::default(),
            last_keys: Vec::new(),
            last_walk: Vec::new(),
            keys_buf: Vec::new(),
        }
    }

    /// The key of `frame`, resolving it through the rules the first time.
    pub fn intern(&mut self, frame: &Frame) -> FrameKey {
        if let Some(&key) = self.frame_keys.get(frame) {
            return key;
        }
        let resolved = self.rules.resolve(frame);
        let names = &mut self.arena.names;
        let view = FrameView {
            hidden: resolved.hidden,
            collapse: resolved
                .collapse
                .as_ref()
                .map(|(rule, name)| (*rule, names.intern(name))),
            name: names.intern(&resolved.name),
            tags: resolved.tags,
        };
        let key = FrameKey(u32::try_from(self.views.len()).expect("fewer than 2^32 frames"));
        self.views.push(view);
        self.frame_keys.insert(frame.clone(), key);
        key
    }

    /// Adds one stack (root first) with its value. Zero values are skipped.
    pub fn add(&mut self, stack: &[Frame], value: i64) {
        if value == 0 {
            return;
        }
        let mut keys = std::mem::take(&mut self.keys_buf);
        keys.clear();
        keys.extend(stack.iter().map(|frame| self.intern(frame)));
        self.add_keys(&keys, value);
        self.keys_buf = keys;
    }

    /// Adds one stack of interned frames (root first) with its value. Zero values
    /// are skipped.
    ///
    /// The walk restarts after the prefix shared with the previous stack, so
    /// stacks arriving in sorted order (or with common prefixes) cost little
    /// beyond their new frames.
    ///
    /// # Panics
    /// When a key does not come from this builder's [`TreeBuilder::intern`].
    pub fn add_keys(&mut self, stack: &[FrameKey], value: i64) {
        if value == 0 {
            return;
        }
        let shared = stack
            .iter()
            .zip(&self.last_keys)
            .take_while(|(key, last)| key == last)
            .count();
        self.last_keys.truncate(shared);
        self.last_walk.truncate(shared);
        let (mut node, mut runs) = self.last_walk.last().copied().unwrap_or_default();
        for &key in &stack[shared..] {
            node = self.descend(&mut runs, node, key);
            self.last_keys.push(key);
            self.last_walk.push((node, runs));
        }
        self.arena.nodes[node as usize].values.self_value += value;
    }

    /// One step down from `node` for the frame `key`; stays at `node` when the
    /// frame is hidden or merged into the previous one.
    fn descend(&mut self, runs: &mut RunMerger<(u32, u32)>, node: u32, key: FrameKey) -> u32 {
        let view = &self.views[key.0 as usize];
        let first_tag = view.tags.first().copied();
        let group_by = self.rules.group_by();
        let Some(step) = runs.step(view.hidden, view.collapse, first_tag, group_by) else {
            return node;
        };
        let (name, tags) = match step {
            Step::Plain => (view.name, view.tags.as_slice()),
            Step::Group(tag) => (self.tag_names[usize::from(tag)], &view.tags[..1]),
        };
        let arena = &mut self.arena;
        let child = *self
            .child_index
            .entry((node, name))
            .or_insert_with(|| arena.add_child(node, name, false));
        if tags.is_empty() {
            // Most frames carry no tag: leave the node's memory alone.
            return child;
        }
        let child_tags = &mut arena.nodes[child as usize].tags;
        for tag in tags {
            if !child_tags.contains(tag) {
                child_tags.push(*tag);
            }
        }
        child
    }

    /// Computes totals and orders children.
    pub fn finish(self) -> Tree {
        let mut arena = self.arena;
        arena.compute_totals();
        arena.sort_children();
        Tree {
            arena,
            tags: self.rules.tags().to_vec(),
        }
    }
}

/// Counts of a tree, for the response envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The root's total: the sum of all stack values.
    pub total: i64,
    /// Nodes besides the root, `other` nodes included.
    pub node_count: usize,
    /// Value moved into `other` nodes by pruning (sum of their totals).
    pub pruned_value: i64,
}

impl Tree {
    /// Builds a tree from `(stack, value)` pairs, stacks root first, through
    /// `rules`. Callers should pre-aggregate identical stacks; see
    /// [`TreeBuilder`] for incremental building.
    ///
    /// The stacks are interned first and inserted in sorted order, so each one
    /// only walks the frames it does not share with the one before.
    pub fn build<I, S>(stacks: I, rules: &CompiledRules) -> Tree
    where
        I: IntoIterator<Item = (S, i64)>,
        S: AsRef<[Frame]>,
    {
        let mut builder = TreeBuilder::new(rules);
        let mut keys: Vec<FrameKey> = Vec::new();
        // (start, end) in `keys`, value.
        let mut spans: Vec<(usize, usize, i64)> = Vec::new();
        for (stack, value) in stacks {
            if value == 0 {
                continue;
            }
            let start = keys.len();
            for frame in stack.as_ref() {
                keys.push(builder.intern(frame));
            }
            spans.push((start, keys.len(), value));
        }
        spans.sort_unstable_by(|a, b| keys[a.0..a.1].cmp(&keys[b.0..b.1]));
        for (start, end, value) in spans {
            builder.add_keys(&keys[start..end], value);
        }
        builder.finish()
    }

    /// The synthetic root, named `total`.
    pub fn root(&self) -> NodeRef<'_> {
        NodeRef { tree: self, id: 0 }
    }

    /// The sum of all stack values.
    pub fn total(&self) -> i64 {
        self.arena.nodes[0].values.total_value
    }

    /// Nodes besides the root, `other` nodes included.
    pub fn node_count(&self) -> usize {
        self.arena.node_count()
    }

    /// Value moved into `other` nodes by [`Tree::prune`].
    pub fn pruned_value(&self) -> i64 {
        self.arena.pruned().total_value
    }

    /// The tags nodes may carry (from the view's `tag` rules).
    pub fn tags(&self) -> &[TagDef] {
        &self.tags
    }

    /// Total, node count and pruned value.
    pub fn summary(&self) -> Summary {
        Summary {
            total: self.total(),
            node_count: self.node_count(),
            pruned_value: self.pruned_value(),
        }
    }

    /// A copy with at most `max_nodes` named nodes besides the root, the most
    /// valuable (by total) first, a kept node's ancestors always kept.
    ///
    /// Children dropped under a kept node become one `other` child (self = total
    /// = their summed totals), so every total, the root's included, is unchanged.
    /// The result has at most `max_nodes` named nodes plus at most one `other`
    /// node per kept node (root included); pruning a pruned tree folds old
    /// `other` nodes into the new ones.
    pub fn prune(&self, max_nodes: usize) -> Tree {
        Tree {
            arena: self.arena.prune(max_nodes),
            tags: self.tags.clone(),
        }
    }
}

/// A borrowed view of one node of a [`Tree`].
#[derive(Debug, Clone, Copy)]
pub struct NodeRef<'t> {
    tree: &'t Tree,
    id: u32,
}

impl<'t> NodeRef<'t> {
    /// Display name (`total` for the root, `other` for pruned children).
    pub fn name(&self) -> &'t str {
        self.tree.arena.name(self.id)
    }

    /// Value of stacks ending here.
    pub fn self_value(&self) -> i64 {
        self.node().values.self_value
    }

    /// Value of all stacks through here.
    pub fn total_value(&self) -> i64 {
        self.node().values.total_value
    }

    /// Whether this node stands for pruned children.
    pub fn is_other(&self) -> bool {
        self.node().other
    }

    /// Tags attached by the view's `tag` rules.
    pub fn tags(&self) -> impl Iterator<Item = &'t TagDef> + 't {
        let tags = &self.tree.tags;
        self.node()
            .tags
            .iter()
            .map(move |&tag| &tags[usize::from(tag)])
    }

    /// Children, ordered by name with `other` last.
    pub fn children(&self) -> impl ExactSizeIterator<Item = NodeRef<'t>> + 't {
        let tree = self.tree;
        self.node()
            .children
            .iter()
            .map(move |&id| NodeRef { tree, id })
    }

    /// The child with this display name.
    pub fn child(&self, name: &str) -> Option<NodeRef<'t>> {
        self.children()
            .find(|child| child.name() == name && !child.is_other())
    }

    fn node(&self) -> &'t crate::arena::ArenaNode<NodeValue> {
        &self.tree.arena.nodes[self.id as usize]
    }
}

/// `{"name", "self", "total", "tags"?: [name, ...], "children": [...]}`.
impl Serialize for NodeRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let node = self.node();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", self.name())?;
        map.serialize_entry("self", &node.values.self_value)?;
        map.serialize_entry("total", &node.values.total_value)?;
        if node.other {
            map.serialize_entry("other", &true)?;
        }
        if !node.tags.is_empty() {
            map.serialize_entry("tags", &TagNames(*self))?;
        }
        map.serialize_entry("children", &Children(*self))?;
        map.end()
    }
}

struct TagNames<'t>(NodeRef<'t>);

impl Serialize for TagNames<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.tags().map(|tag| tag.name.as_str()))
    }
}

struct Children<'t>(NodeRef<'t>);

impl Serialize for Children<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let children = self.0.children();
        let mut seq = serializer.serialize_seq(Some(children.len()))?;
        for child in children {
            seq.serialize_element(&child)?;
        }
        seq.end()
    }
}

/// `{"summary": Summary, "tags": [TagDef], "root": node}`.
impl Serialize for Tree {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("summary", &self.summary())?;
        map.serialize_entry("tags", &self.tags)?;
        map.serialize_entry("root", &self.root())?;
        map.end()
    }
}
