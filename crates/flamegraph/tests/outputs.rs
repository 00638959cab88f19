//! Output formats: native JSON, Pyroscope flamebearer and diff, function table,
//! folded text, pprof; pruning and diffing.

mod common;

use common::{assert_totals_consistent, decode_flame_graph, decode_flame_graph_diff, frame, paths};
use prost::Message;
use serde_json::json;
use vispyr_common::profile::{Frame, ProfileType};
use vispyr_flamegraph::{
    CompiledRules, FlameGraph, FlameGraphDiff, Level, RuleSet, Tree, TreeBuilder, diff, to_pprof,
};

/// A tree from `a;b;c value` folded lines, without rules.
fn tree(lines: &[(&str, i64)]) -> Tree {
    let stacks: Vec<(Vec<Frame>, i64)> = lines
        .iter()
        .map(|(stack, value)| (stack.split(';').map(Frame::named).collect(), *value))
        .collect();
    Tree::build(stacks, &CompiledRules::none())
}

fn levels(values: &[&[i64]]) -> Vec<Level> {
    values
        .iter()
        .map(|v| Level { values: v.to_vec() })
        .collect()
}

#[test]
fn native_json_shape() {
    let tree = tree(&[("a;b", 1), ("a", 2), ("c", 3)]);
    assert_eq!(
        serde_json::to_value(&tree).unwrap(),
        json!({
            "summary": {"total": 6, "node_count": 3, "pruned_value": 0},
            "tags": [],
            "root": {"name": "total", "self": 0, "total": 6, "children": [
                {"name": "a", "self": 2, "total": 3, "children": [
                    {"name": "b", "self": 1, "total": 1, "children": []}
                ]},
                {"name": "c", "self": 3, "total": 3, "children": []}
            ]}
        })
    );
}

/// The exact output of Pyroscope's `Test_ExportToFlamebearer`
/// (`pkg/model/flamegraph_test.go`) for the same stacks.
#[test]
fn flamebearer_matches_pyroscope() {
    let tree = tree(&[("a;b;e", 1), ("a;c", 2), ("a;c;d", 1)]);
    let graph = tree.flame_graph();
    assert_eq!(graph.names, ["total", "a", "c", "d", "b", "e"]);
    assert_eq!(
        graph.levels,
        levels(&[
            &[0, 4, 0, 0],
            &[0, 4, 0, 1],
            &[0, 1, 0, 4, 0, 3, 2, 2],
            &[0, 1, 1, 5, 2, 1, 1, 3]
        ])
    );
    assert_eq!(graph.total, 4);
    assert_eq!(graph.max_self, 2);
    assert_eq!(decode_flame_graph(&graph), paths(&tree));
}

#[test]
fn flamebearer_json_and_protobuf() {
    let graph = tree(&[("a", 1)]).flame_graph();
    assert_eq!(
        serde_json::to_value(&graph).unwrap(),
        json!({"names": ["total", "a"], "levels": [{"values": [0, 1, 0, 0]}, {"values": [0, 1, 1, 1]}], "total": 1, "maxSelf": 1})
    );
    let decoded = FlameGraph::decode(graph.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, graph);
}

/// Worked by hand from Pyroscope's `NewFlamegraphDiff`: nodes present on one
/// side only get zeros on the other; each side's x is delta-encoded on its own.
#[test]
fn diff_flamebearer_layout() {
    let left = tree(&[("a;b", 1), ("c", 2)]);
    let right = tree(&[("a;b", 2), ("d", 1)]);
    let graph = diff(&left, &right).flame_graph_diff();
    assert_eq!(graph.names, ["total", "d", "c", "a", "b"]);
    assert_eq!(
        graph.levels,
        levels(&[
            &[0, 3, 0, 0, 3, 0, 0],
            &[
                0, 1, 0, 0, 2, 0, 3, 0, 2, 2, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 1
            ],
            &[0, 1, 1, 0, 2, 2, 4],
        ])
    );
    assert_eq!(
        (
            graph.total,
            graph.max_self,
            graph.left_ticks,
            graph.right_ticks
        ),
        (6, 2, 3, 3)
    );
    let decoded = FlameGraphDiff::decode(graph.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, graph);
    let json = serde_json::to_value(&graph).unwrap();
    assert_eq!(json["leftTicks"], 3);
    assert_eq!(json["rightTicks"], 3);
    assert_eq!(json["maxSelf"], 2);
    let sides = decode_flame_graph_diff(&graph);
    assert_eq!(sides[&vec!["d".to_owned()]], vec![(0, 0), (1, 1)]);
}

#[test]
fn diff_tree_values_and_json() {
    let left = tree(&[("a;b", 1), ("c", 2)]);
    let right = tree(&[("a;b", 2), ("d", 1)]);
    let diffed = diff(&left, &right);
    let a = diffed.root().child("a").unwrap();
    assert_eq!((a.left().total_value, a.right().total_value), (1, 2));
    let c = diffed.root().child("c").unwrap();
    assert_eq!((c.left().self_value, c.right().self_value), (2, 0));
    assert_eq!(
        serde_json::to_value(&diffed).unwrap()["root"]["children"][2],
        json!({"name": "d", "left_self": 0, "left_total": 0, "right_self": 1, "right_total": 1, "children": []})
    );
    assert_eq!(
        serde_json::to_value(diffed.summary()).unwrap(),
        json!({"left_total": 3, "right_total": 3, "node_count": 4})
    );
}

#[test]
fn table_counts_recursion_once() {
    let tree = tree(&[("main;fib;fib;fib", 5), ("main;fib", 2), ("main;parse", 3)]);
    let table = tree.table();
    let rows: Vec<(&str, i64, i64)> = table
        .iter()
        .map(|r| (r.name.as_str(), r.self_value, r.total_value))
        .collect();
    assert_eq!(rows, [("fib", 7, 7), ("parse", 3, 3), ("main", 0, 10)]);
    assert_eq!(
        serde_json::to_value(&table[0]).unwrap(),
        json!({"name": "fib", "self": 7, "total": 7})
    );
}

#[test]
fn folded_round_trips() {
    let lines = "a;b 1\na;c;d 4\ne 2\n";
    let parsed: Vec<(&str, i64)> = lines
        .lines()
        .map(|line| {
            let (stack, value) = line.rsplit_once(' ').unwrap();
            (stack, value.parse().unwrap())
        })
        .collect();
    assert_eq!(tree(&parsed).folded(), lines);
}

#[test]
fn folded_sanitizes_separators() {
    let stacks = [(vec![Frame::named("a;b\nc")], 1)];
    let tree = Tree::build(stacks, &CompiledRules::none());
    assert_eq!(tree.folded(), "a:b c 1\n");
}

#[test]
fn prune_keeps_heaviest_and_accounts_the_rest() {
    let tree = tree(&[
        ("a;b", 50),
        ("a;c", 5),
        ("a;d", 4),
        ("e", 30),
        ("f", 1),
        ("g", 1),
    ]);
    let pruned = tree.prune(3);
    assert_eq!(pruned.total(), tree.total());
    assert_totals_consistent(&pruned);
    assert_eq!(pruned.folded(), "a;b 50\na;other 9\ne 30\nother 2\n");
    assert_eq!(pruned.pruned_value(), 11);
    assert_eq!(pruned.node_count(), 5);
    let json = serde_json::to_value(&pruned).unwrap();
    assert_eq!(
        json["summary"],
        json!({"total": 91, "node_count": 5, "pruned_value": 11})
    );
    assert_eq!(
        json["root"]["children"][2],
        json!({"name": "other", "self": 2, "total": 2, "other": true, "children": []})
    );
    // Pruning again folds the old `other` into the new one.
    let again = pruned.prune(1);
    assert_eq!(again.folded(), "a;other 59\nother 32\n");
    assert_eq!(again.prune(0).folded(), "other 91\n");
}

#[test]
fn builder_with_keys_matches_build() {
    let stacks = [
        vec![
            frame("main", "/srv/app/main.js", 1),
            frame("work", "/srv/app/work.js", 2),
        ],
        vec![frame("main", "/srv/app/main.js", 1)],
    ];
    let rules = RuleSet::preset("nodejs").unwrap().compile().unwrap();
    let mut builder = TreeBuilder::new(&rules);
    let keyed: Vec<Vec<_>> = stacks
        .iter()
        .map(|stack| stack.iter().map(|f| builder.intern(f)).collect())
        .collect();
    builder.add_keys(&keyed[0], 3);
    builder.add_keys(&keyed[1], 2);
    let from_keys = builder.finish();
    let from_frames = Tree::build(stacks.iter().zip([3, 2]), &rules);
    assert_eq!(from_keys.folded(), from_frames.folded());
    assert_eq!(from_keys.folded(), "main 2\nmain;work 3\n");
}

fn cpu_type() -> ProfileType {
    ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds").unwrap()
}

/// Structural checks `go tool pprof` relies on.
fn assert_valid_pprof(profile: &vispyr_proto::pprof::Profile) {
    assert_eq!(profile.string_table[0], "");
    let strings = profile.string_table.len() as i64;
    for (index, function) in profile.function.iter().enumerate() {
        assert_eq!(function.id, index as u64 + 1);
        assert!(function.name > 0 && function.name < strings);
        assert!(function.filename >= 0 && function.filename < strings);
    }
    for (index, mapping) in profile.mapping.iter().enumerate() {
        assert_eq!(mapping.id, index as u64 + 1);
    }
    for (index, location) in profile.location.iter().enumerate() {
        assert_eq!(location.id, index as u64 + 1);
        assert!(location.mapping_id as usize <= profile.mapping.len());
        assert_eq!(location.line.len(), 1);
        assert!(location.line[0].function_id as usize <= profile.function.len());
        assert!(location.line[0].function_id > 0);
    }
    for sample in &profile.sample {
        assert_eq!(sample.value.len(), profile.sample_type.len());
        assert!(!sample.location_id.is_empty());
        for id in &sample.location_id {
            assert!(*id > 0 && *id as usize <= profile.location.len());
        }
    }
}

fn location_name(profile: &vispyr_proto::pprof::Profile, id: u64) -> &str {
    let location = &profile.location[id as usize - 1];
    let function = &profile.function[location.line[0].function_id as usize - 1];
    &profile.string_table[function.name as usize]
}

#[test]
fn pprof_from_stacks_round_trips() {
    let mut libc = frame("", "", 0);
    libc.mapping = "libc.so.6".to_owned();
    let stacks = [
        (
            vec![
                frame("main", "/srv/app/main.js", 1),
                frame("work", "/srv/app/work.js", 2),
            ],
            7,
        ),
        (vec![frame("main", "/srv/app/main.js", 1), libc], 3),
    ];
    let profile = to_pprof(
        stacks.iter().map(|(s, v)| (s, *v)),
        &cpu_type(),
        1_700_000_000_000_000_000,
        10_000_000_000,
    );
    let decoded = vispyr_proto::pprof::Profile::decode(profile.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, profile);
    assert_valid_pprof(&decoded);
    let sample_type = decoded.sample_type[0];
    assert_eq!(decoded.string_table[sample_type.r#type as usize], "cpu");
    assert_eq!(
        decoded.string_table[sample_type.unit as usize],
        "nanoseconds"
    );
    assert_eq!(decoded.time_nanos, 1_700_000_000_000_000_000);
    assert_eq!(decoded.duration_nanos, 10_000_000_000);
    assert_eq!(decoded.function.len(), 3);
    assert_eq!(decoded.mapping.len(), 1);
    assert_eq!(
        decoded.string_table[decoded.mapping[0].filename as usize],
        "libc.so.6"
    );
    // Leaf first.
    let first: Vec<&str> = decoded.sample[0]
        .location_id
        .iter()
        .map(|&id| location_name(&decoded, id))
        .collect();
    assert_eq!(first, ["work", "main"]);
    let second: Vec<&str> = decoded.sample[1]
        .location_id
        .iter()
        .map(|&id| location_name(&decoded, id))
        .collect();
    assert_eq!(second, ["libc.so.6", "main"]);
    assert_eq!(decoded.sample.iter().map(|s| s.value[0]).sum::<i64>(), 10);
}

#[test]
fn pprof_from_tree_after_rules() {
    let stacks = [
        (
            vec![
                frame(
                    "processTicksAndRejections",
                    "node:internal/process/task_queues",
                    95,
                ),
                frame(
                    "handle",
                    "/srv/app/node_modules/express/lib/router/layer.js",
                    95,
                ),
                frame("fib", "file:///srv/app/src/hot.js", 3),
            ],
            9,
        ),
        (vec![frame("listOnTimeout", "node:internal/timers", 569)], 1),
    ];
    let rules = RuleSet::preset("nodejs").unwrap().compile().unwrap();
    let tree = Tree::build(stacks.iter().map(|(s, v)| (s, *v)), &rules);
    let profile = tree.to_pprof(&cpu_type(), 0, 0);
    assert_valid_pprof(&profile);
    let mut samples: Vec<(Vec<&str>, i64)> = profile
        .sample
        .iter()
        .map(|s| {
            (
                s.location_id
                    .iter()
                    .map(|&id| location_name(&profile, id))
                    .collect(),
                s.value[0],
            )
        })
        .collect();
    samples.sort();
    assert_eq!(
        samples,
        [(vec!["(hidden)"], 1), (vec!["fib", "express"], 9)]
    );

    // The same view through `apply` keeps file and line of plain frames.
    let applied: Vec<(Vec<Frame>, i64)> =
        stacks.iter().map(|(s, v)| (rules.apply(s), *v)).collect();
    let profile = to_pprof(applied.iter().map(|(s, v)| (s, *v)), &cpu_type(), 0, 0);
    assert_valid_pprof(&profile);
    let fib = profile
        .function
        .iter()
        .find(|f| profile.string_table[f.name as usize] == "fib")
        .unwrap();
    assert_eq!(
        profile.string_table[fib.filename as usize],
        "file:///srv/app/src/hot.js"
    );
}
