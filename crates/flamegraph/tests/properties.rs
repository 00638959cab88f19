//! Property tests: for random stacks and random views, the rules, grouping,
//! pruning and the output encodings never lose or invent value.

mod common;

use std::collections::BTreeMap;

use common::{assert_totals_consistent, decode_flame_graph, decode_flame_graph_diff, paths};
use proptest::prelude::*;
use vispyr_common::profile::Frame;
use vispyr_flamegraph::{CompiledRules, GroupBy, MatchField, Rule, RuleSet, Tree, diff};

const FUNCTIONS: [&str; 8] = [
    "main",
    "handle",
    "next",
    "fib",
    "query",
    "",
    "(anonymous)",
    "runtime.mallocgc",
];
const FILES: [&str; 7] = [
    "",
    "node:internal/process/task_queues",
    "node:events",
    "/srv/app/node_modules/express/lib/router/layer.js",
    "/srv/app/node_modules/@nestjs/core/router.js",
    "file:///srv/app/src/hot.js",
    "/usr/lib/python3/site-packages/requests/api.py",
];

fn frame_strategy() -> impl Strategy<Value = Frame> {
    (0..FUNCTIONS.len(), 0..FILES.len(), 0i64..3).prop_map(|(function, file, line)| Frame {
        function: FUNCTIONS[function].to_owned(),
        file: FILES[file].to_owned(),
        line,
        mapping: String::new(),
    })
}

fn stacks_strategy() -> impl Strategy<Value = Vec<(Vec<Frame>, i64)>> {
    prop::collection::vec(
        (prop::collection::vec(frame_strategy(), 0..8), 1i64..1000),
        0..40,
    )
}

/// Valid rules of every kind; renames never produce an empty name.
fn rule_pool() -> Vec<Rule> {
    vec![
        Rule::hide("node:*").on(MatchField::File),
        Rule::hide("fib").on(MatchField::Function),
        Rule::hide("regex:^n").on(MatchField::Name),
        Rule::collapse("node_modules/**").on(MatchField::File),
        Rule::collapse("node_modules/*/**")
            .on(MatchField::File)
            .named("npm:$1"),
        Rule::collapse("{site,dist}-packages/**").on(MatchField::File),
        Rule::collapse("regex:^(runtime)\\.").named("$1"),
        Rule::collapse("**").on(MatchField::Package),
        Rule::rename("regex:^file:///srv/app/(.+)$", "app:$1"),
        Rule::rename("regex:^(h)andle$", "${1}andler"),
        Rule::rename("fib", "fibonacci"),
        Rule::rename("regex:^main$", ""),
        Rule::tag("**/src/**", "app")
            .on(MatchField::File)
            .colored("#3498db"),
        Rule::tag("express", "web").on(MatchField::Package),
        Rule::tag("regex:.", "all"),
        Rule::tag("query", "db").on(MatchField::Name),
    ]
}

fn rules_strategy() -> impl Strategy<Value = RuleSet> {
    let pool = rule_pool();
    let count = pool.len();
    (
        prop::collection::vec((0..count, any::<bool>()), 0..6),
        any::<bool>(),
    )
        .prop_map(move |(picks, group)| {
            let rules = picks
                .into_iter()
                .map(|(index, enabled)| pool[index].clone().enabled(enabled))
                .collect();
            let group_by = if group { GroupBy::Tag } else { GroupBy::None };
            RuleSet::new(rules).grouped_by(group_by)
        })
}

fn sum(stacks: &[(Vec<Frame>, i64)]) -> i64 {
    stacks.iter().map(|(_, value)| value).sum()
}

fn build(stacks: &[(Vec<Frame>, i64)], rules: &CompiledRules) -> Tree {
    Tree::build(stacks.iter().map(|(stack, value)| (stack, *value)), rules)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Hide, collapse, rename, tag and group_by move value between nodes but
    /// never change the root total, and every node's total stays self + children.
    #[test]
    fn rules_preserve_total(stacks in stacks_strategy(), rules in rules_strategy()) {
        let compiled = rules.compile().unwrap();
        let tree = build(&stacks, &compiled);
        prop_assert_eq!(tree.total(), sum(&stacks));
        assert_totals_consistent(&tree);
        let table_self: i64 = tree.table().iter().map(|row| row.self_value).sum();
        prop_assert_eq!(table_self + tree.root().self_value(), tree.total());
        let folded_sum: i64 = tree
            .folded()
            .lines()
            .map(|line| line.rsplit_once(' ').unwrap().1.parse::<i64>().unwrap())
            .sum();
        prop_assert_eq!(folded_sum, tree.total());
    }

    /// `CompiledRules::apply` shows each stack exactly as the tree does.
    #[test]
    fn apply_agrees_with_tree(stacks in stacks_strategy(), rules in rules_strategy()) {
        let compiled = rules.compile().unwrap();
        let applied: Vec<(Vec<Frame>, i64)> =
            stacks.iter().map(|(stack, value)| (compiled.apply(stack), *value)).collect();
        let via_apply = build(&applied, &CompiledRules::none());
        let direct = build(&stacks, &compiled);
        prop_assert_eq!(via_apply.folded(), direct.folded());
    }

    /// Pruning keeps the root total and every node's totals; named nodes stay
    /// within the budget and each kept node (root included) gets at most one
    /// `other` child.
    #[test]
    fn prune_bounds_nodes_and_keeps_totals(
        stacks in stacks_strategy(),
        rules in rules_strategy(),
        max_nodes in 0usize..30,
    ) {
        let tree = build(&stacks, &rules.compile().unwrap());
        let pruned = tree.prune(max_nodes);
        prop_assert_eq!(pruned.total(), tree.total());
        assert_totals_consistent(&pruned);
        let all = paths(&pruned);
        let others = all.keys().filter(|path| path.last().unwrap() == "other").count();
        let named = all.len() - others;
        prop_assert!(named <= max_nodes, "{named} named nodes > {max_nodes}");
        prop_assert!(others <= named + 1, "{others} other nodes for {named} named");
        prop_assert_eq!(pruned.node_count(), all.len());
        // Every kept node keeps its values.
        let original = paths(&tree);
        for (path, values) in &all {
            if path.last().unwrap() != "other" {
                prop_assert_eq!(Some(values), original.get(path));
            }
        }
        let other_total: i64 = all
            .iter()
            .filter(|(path, _)| path.last().unwrap() == "other")
            .map(|(_, (_, total))| total)
            .sum();
        prop_assert_eq!(pruned.pruned_value(), other_total);
    }

    /// Decoding the flamebearer (with an independent decoder) gives back every
    /// node's self and total, pruned or not.
    #[test]
    fn flamebearer_decodes_to_the_tree(
        stacks in stacks_strategy(),
        rules in rules_strategy(),
        max_nodes in 0usize..40,
    ) {
        let tree = build(&stacks, &rules.compile().unwrap()).prune(max_nodes);
        let graph = tree.flame_graph();
        prop_assert_eq!(graph.total, tree.total());
        prop_assert_eq!(decode_flame_graph(&graph), paths(&tree));
        let max_self = paths(&tree).values().map(|(s, _)| *s).chain([tree.root().self_value(), 0]).max().unwrap();
        prop_assert_eq!(graph.max_self, max_self);
    }

    /// A diff keeps both sides intact, in the tree and in the diff flamebearer.
    #[test]
    fn diff_keeps_both_sides(
        left_stacks in stacks_strategy(),
        right_stacks in stacks_strategy(),
        rules in rules_strategy(),
        max_nodes in 0usize..40,
    ) {
        let compiled = rules.compile().unwrap();
        let left = build(&left_stacks, &compiled);
        let right = build(&right_stacks, &compiled);
        let diffed = diff(&left, &right);
        prop_assert_eq!(diffed.left_total(), left.total());
        prop_assert_eq!(diffed.right_total(), right.total());
        let decoded = decode_flame_graph_diff(&diffed.flame_graph_diff());
        let side = |index: usize| -> BTreeMap<Vec<String>, (i64, i64)> {
            decoded
                .iter()
                .filter(|(_, values)| values[index].1 != 0)
                .map(|(path, values)| (path.clone(), values[index]))
                .collect()
        };
        prop_assert_eq!(side(0), paths(&left));
        prop_assert_eq!(side(1), paths(&right));

        let pruned = diffed.prune(max_nodes);
        prop_assert!(pruned.node_count() <= 2 * max_nodes + 1);
        let graph = pruned.flame_graph_diff();
        prop_assert_eq!(graph.left_ticks, left.total());
        prop_assert_eq!(graph.right_ticks, right.total());
        decode_flame_graph_diff(&graph);
    }
}
