//! View rules on real-looking Node.js stacks (an Express app profiled with
//! `@pyroscope/nodejs`), one test per rule kind plus the `nodejs` preset.

mod common;

use common::{assert_totals_consistent, frame};
use serde_json::json;
use vispyr_common::profile::Frame;
use vispyr_flamegraph::{GroupBy, MatchField, Rule, RuleSet, Tree};

const LAYER: &str = "/srv/app/node_modules/express/lib/router/layer.js";
const ROUTE: &str = "/srv/app/node_modules/express/lib/router/route.js";
const INDEX: &str = "/srv/app/node_modules/express/lib/router/index.js";

/// A request handled by Express that burns CPU in a recursive `fib`.
fn fib_request() -> Vec<Frame> {
    vec![
        frame(
            "processTicksAndRejections",
            "node:internal/process/task_queues",
            95,
        ),
        frame("handle", LAYER, 95),
        frame("next", ROUTE, 149),
        frame("dispatch", ROUTE, 119),
        frame("handle", LAYER, 95),
        frame("(anonymous)", "file:///srv/app/src/routes/cpu.js", 14),
        frame("fib", "file:///srv/app/src/hot.js", 3),
        frame("fib", "file:///srv/app/src/hot.js", 3),
    ]
}

/// A timer that queries PostgreSQL through `pg`, which emits through `node:events`.
fn pg_timer() -> Vec<Frame> {
    vec![
        frame("listOnTimeout", "node:internal/timers", 569),
        frame("processTimers", "node:internal/timers", 512),
        frame("refreshStats", "file:///srv/app/src/jobs.js", 7),
        frame("query", "/srv/app/node_modules/pg/lib/client.js", 520),
        frame("emit", "node:events", 517),
        frame(
            "parse",
            "/srv/app/node_modules/pg-protocol/dist/parser.js",
            40,
        ),
    ]
}

/// Time spent entirely in Node internals.
fn internal_only() -> Vec<Frame> {
    vec![
        frame("listOnTimeout", "node:internal/timers", 569),
        frame("processTimers", "node:internal/timers", 512),
    ]
}

fn gc() -> Vec<Frame> {
    vec![frame("(garbage collector)", "", 0)]
}

fn stacks() -> Vec<(Vec<Frame>, i64)> {
    vec![
        (fib_request(), 70),
        (pg_timer(), 20),
        (internal_only(), 4),
        (gc(), 6),
    ]
}

fn build(rules: &RuleSet) -> Tree {
    let compiled = rules.compile().unwrap();
    let tree = Tree::build(stacks(), &compiled);
    assert_eq!(tree.total(), 100, "rules never change the total");
    assert_totals_consistent(&tree);
    tree
}

#[test]
fn without_rules_every_frame_is_a_node() {
    let tree = build(&RuleSet::default());
    let root = tree.root();
    let names: Vec<&str> = root.children().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "(garbage collector)",
            "listOnTimeout",
            "processTicksAndRejections"
        ]
    );
    // Anonymous functions are named by file:line.
    let anonymous = root
        .child("processTicksAndRejections")
        .and_then(|n| n.child("handle"))
        .and_then(|n| n.child("next"))
        .and_then(|n| n.child("dispatch"))
        .and_then(|n| n.child("handle"))
        .and_then(|n| n.child("file:///srv/app/src/routes/cpu.js:14"))
        .unwrap();
    assert_eq!(anonymous.total_value(), 70);
}

#[test]
fn hide_removes_internals_and_keeps_their_value() {
    let tree = build(&RuleSet::new(vec![
        Rule::hide("node:internal/*").on(MatchField::File),
    ]));
    let root = tree.root();
    // Stacks made only of internals give their value to the root.
    assert_eq!(root.self_value(), 4);
    let names: Vec<&str> = root.children().map(|c| c.name()).collect();
    assert_eq!(names, ["(garbage collector)", "handle", "refreshStats"]);
    assert_eq!(root.child("handle").unwrap().total_value(), 70);
    // `node:events` is not under `node:internal/`, so it stays.
    let emit = root
        .child("refreshStats")
        .and_then(|n| n.child("query"))
        .and_then(|n| n.child("emit"));
    assert_eq!(emit.unwrap().total_value(), 20);
}

#[test]
fn hide_in_the_middle_attaches_children_to_the_parent() {
    let tree = build(&RuleSet::new(vec![
        Rule::hide("node:*").on(MatchField::File),
    ]));
    let query = tree
        .root()
        .child("refreshStats")
        .and_then(|n| n.child("query"))
        .unwrap();
    let children: Vec<&str> = query.children().map(|c| c.name()).collect();
    assert_eq!(children, ["parse"]);
    assert_eq!(query.child("parse").unwrap().self_value(), 20);
}

#[test]
fn collapse_merges_runs_by_package_and_keeps_callees_below() {
    let tree = build(&RuleSet::new(vec![
        Rule::hide("node:*").on(MatchField::File),
        Rule::collapse("node_modules/**").on(MatchField::File),
    ]));
    let folded = tree.folded();
    assert_eq!(
        folded,
        "(hidden) 4\n\
         (garbage collector) 6\n\
         express;file:///srv/app/src/routes/cpu.js:14;fib;fib 70\n\
         refreshStats;pg;pg-protocol 20\n"
    );
}

#[test]
fn collapse_name_template_and_scoped_packages() {
    let stack = vec![
        frame(
            "callback",
            "/srv/app/node_modules/@nestjs/core/router/router-proxy.js",
            9,
        ),
        frame(
            "handle",
            "/srv/app/node_modules/@nestjs/core/router/router-execution-context.js",
            38,
        ),
        frame("handle", INDEX, 284),
        frame("getUser", "/srv/app/dist/users.service.js", 21),
    ];
    let default_names = Tree::build(
        [(&stack, 1)],
        &RuleSet::new(vec![Rule::collapse("node_modules/**").on(MatchField::File)])
            .compile()
            .unwrap(),
    );
    assert_eq!(default_names.folded(), "@nestjs/core;express;getUser 1\n");

    let templated = Tree::build(
        [(&stack, 1)],
        &RuleSet::new(vec![
            Rule::collapse("node_modules/*/**")
                .on(MatchField::File)
                .named("npm:$1"),
        ])
        .compile()
        .unwrap(),
    );
    assert_eq!(templated.folded(), "npm:@nestjs;npm:express;getUser 1\n");
}

#[test]
fn rename_rewrites_names_with_captures() {
    let stack = vec![
        frame("file:///srv/app/src/a.js:handler:12", "", 0),
        frame("(anonymous)", "file:///srv/app/src/routes/cpu.js", 14),
    ];
    let rules = RuleSet::new(vec![
        Rule::rename(r"regex:^file:///srv/app/(.+\.js):(\w+):\d+$", "$1 $2"),
        Rule::rename("regex:^file:///srv/app/", ""),
    ]);
    let tree = Tree::build([(&stack, 5)], &rules.compile().unwrap());
    assert_eq!(tree.folded(), "src/a.js handler;src/routes/cpu.js:14 5\n");
}

#[test]
fn tags_mark_nodes_and_serialize() {
    let rules = RuleSet::new(vec![
        Rule::hide("node:*").on(MatchField::File),
        Rule::collapse("node_modules/**").on(MatchField::File),
        Rule::tag("express", "web")
            .on(MatchField::Package)
            .colored("#2ecc71"),
        Rule::tag("/srv/app/src/**", "app").on(MatchField::File),
        Rule::tag("file:///srv/app/src/**", "app")
            .on(MatchField::File)
            .colored("#3498db"),
    ]);
    let tree = build(&rules);
    let express = tree.root().child("express").unwrap();
    let tags: Vec<&str> = express.tags().map(|t| t.name.as_str()).collect();
    assert_eq!(tags, ["web"]);
    let value = serde_json::to_value(&tree).unwrap();
    assert_eq!(
        value["tags"],
        json!([{"name": "web", "color": "#2ecc71"}, {"name": "app", "color": "#3498db"}])
    );
    let express_json = &value["root"]["children"][1];
    assert_eq!(express_json["name"], "express");
    assert_eq!(express_json["tags"], json!(["web"]));
    assert_eq!(express_json["children"][0]["tags"], json!(["app"]));
    // Untagged nodes have no `tags` key.
    assert!(value["root"]["children"][0].get("tags").is_none());
}

#[test]
fn group_by_tag_merges_runs_sharing_a_tag() {
    let rules = RuleSet::new(vec![
        Rule::hide("node:*").on(MatchField::File),
        Rule::tag("node_modules/{express,body-parser}/**", "web").on(MatchField::File),
        Rule::tag("file:///srv/app/src/**", "app").on(MatchField::File),
    ])
    .grouped_by(GroupBy::Tag);
    let tree = build(&rules);
    assert_eq!(
        tree.folded(),
        "(hidden) 4\n\
         (garbage collector) 6\n\
         app;query;parse 20\n\
         web;app 70\n"
    );
    let web = tree.root().child("web").unwrap();
    assert_eq!(
        web.tags().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["web"]
    );
}

#[test]
fn nodejs_preset_end_to_end() {
    let rules = RuleSet {
        presets: vec!["nodejs".to_owned()],
        ..RuleSet::default()
    };
    let tree = build(&rules);
    assert_eq!(
        tree.folded(),
        "(hidden) 4\n\
         (garbage collector) 6\n\
         express;file:///srv/app/src/routes/cpu.js:14;fib;fib 70\n\
         refreshStats;pg;pg-protocol 20\n"
    );
    // Same result from the preset as a rule set of its own.
    let direct = build(&RuleSet::preset("nodejs").unwrap());
    assert_eq!(direct.folded(), tree.folded());
}

#[test]
fn nodejs_preset_hides_legacy_internal_paths() {
    let stack = vec![
        frame(
            "processTicksAndRejections",
            "internal/process/task_queues.js",
            97,
        ),
        frame("handler", "/srv/app/src/server.js", 10),
    ];
    let tree = Tree::build(
        [(&stack, 1)],
        &RuleSet::preset("nodejs").unwrap().compile().unwrap(),
    );
    assert_eq!(tree.folded(), "handler 1\n");
}

#[test]
fn apply_shows_the_stack_as_the_view_does() {
    let rules = RuleSet::preset("nodejs").unwrap().compile().unwrap();
    let applied = rules.apply(&fib_request());
    let names: Vec<&str> = applied.iter().map(|f| f.function.as_str()).collect();
    assert_eq!(
        names,
        [
            "express",
            "file:///srv/app/src/routes/cpu.js:14",
            "fib",
            "fib"
        ]
    );
    // Plain frames keep their location, collapsed ones do not.
    assert_eq!(applied[0].file, "");
    assert_eq!(applied[2].file, "file:///srv/app/src/hot.js");
    assert_eq!(applied[2].line, 3);
}
