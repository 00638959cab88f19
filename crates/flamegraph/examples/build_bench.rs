//! Times building a flamegraph tree from 50 000 distinct synthetic Node.js
//! stacks of depth 30 through the `nodejs` preset, then pruning and encoding.
//!
//! ```sh
//! cargo run --release -p vispyr-flamegraph --example build_bench
//! ```

use std::time::{Duration, Instant};

use vispyr_common::profile::Frame;
use vispyr_flamegraph::{CompiledRules, RuleSet, Tree, TreeBuilder};

const STACKS: usize = 50_000;
const DEPTH: usize = 30;
const REPEATS: usize = 5;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A pool of realistic frames: Node internals, npm packages, app code.
fn frame_pool() -> Vec<Frame> {
    let mut pool = Vec::new();
    for (function, file) in [
        (
            "processTicksAndRejections",
            "node:internal/process/task_queues",
        ),
        ("listOnTimeout", "node:internal/timers"),
        ("processTimers", "node:internal/timers"),
        ("emit", "node:events"),
        ("onStreamRead", "node:internal/stream_base_commons"),
        ("parserOnIncoming", "node:_http_server"),
    ] {
        pool.push(Frame {
            function: function.to_owned(),
            file: file.to_owned(),
            line: 100,
            mapping: String::new(),
        });
    }
    for package in 0..40 {
        for function in 0..12 {
            pool.push(Frame {
                function: format!("fn{function}"),
                file: format!(
                    "/srv/app/node_modules/pkg{package}/lib/module{}.js",
                    function % 3
                ),
                line: function as i64 * 10,
                mapping: String::new(),
            });
        }
    }
    for file in 0..60 {
        for function in 0..10 {
            pool.push(Frame {
                function: if function == 0 {
                    "(anonymous)".to_owned()
                } else {
                    format!("handler{file}_{function}")
                },
                file: format!("file:///srv/app/src/module{file}.js"),
                line: function as i64 + 1,
                mapping: String::new(),
            });
        }
    }
    pool
}

/// Distinct stacks shaped like real ones: random walks over a fixed call graph
/// where most functions call one or two others, starting from Node internals.
fn stacks(pool: &[Frame]) -> Vec<(Vec<Frame>, i64)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let callees: Vec<Vec<usize>> = (0..pool.len())
        .map(|_| {
            let fan_out = match rng.below(10) {
                0..=4 => 1,
                5..=7 => 2,
                _ => 4,
            };
            (0..fan_out).map(|_| rng.below(pool.len())).collect()
        })
        .collect();
    let roots = 6;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(STACKS);
    while out.len() < STACKS {
        let mut path = Vec::with_capacity(DEPTH);
        let mut current = rng.below(roots);
        path.push(current);
        while path.len() < DEPTH {
            let next = &callees[current];
            current = next[rng.below(next.len())];
            path.push(current);
        }
        if seen.insert(path.clone()) {
            let stack = path.iter().map(|&index| pool[index].clone()).collect();
            out.push((stack, 1 + rng.below(1000) as i64));
        }
    }
    out
}

fn time<T>(label: &str, mut run: impl FnMut() -> T) -> T {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..REPEATS {
        let start = Instant::now();
        let value = run();
        best = best.min(start.elapsed());
        result = Some(value);
    }
    println!(
        "{label:<40} {:>8.1} ms (best of {REPEATS})",
        best.as_secs_f64() * 1000.0
    );
    result.expect("REPEATS > 0")
}

fn main() {
    let pool = frame_pool();
    let stacks = stacks(&pool);
    let frames = STACKS * DEPTH;
    let distinct: std::collections::HashSet<&Frame> =
        stacks.iter().flat_map(|(stack, _)| stack).collect();
    println!(
        "{STACKS} distinct stacks x depth {DEPTH} = {frames} frames, {} distinct frames",
        distinct.len()
    );

    let nodejs = RuleSet::preset("nodejs")
        .expect("known preset")
        .compile()
        .expect("preset compiles");
    let none = CompiledRules::none();
    let as_pairs = || stacks.iter().map(|(stack, value)| (stack, *value));

    let plain = time("Tree::build, no rules", || Tree::build(as_pairs(), &none));
    let tree = time("Tree::build, nodejs preset", || {
        Tree::build(as_pairs(), &nodejs)
    });
    time("TreeBuilder::add unsorted, nodejs preset", || {
        let mut builder = TreeBuilder::new(&nodejs);
        for (stack, value) in as_pairs() {
            builder.add(stack, value);
        }
        builder.finish()
    });
    println!(
        "nodes: {} without rules, {} with the nodejs preset",
        plain.node_count(),
        tree.node_count()
    );
    let pruned = time("prune to 2048 nodes", || tree.prune(2048));
    time("flamebearer of pruned tree", || pruned.flame_graph());
    time("table", || tree.table());
    assert_eq!(pruned.total(), tree.total());
}
