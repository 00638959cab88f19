//! Golden tests: every `golden/*.json` file holds a query, its parameters
//! (times as seconds after the corpus's T0) and the expected `result_json`
//! output, or `{"error": "..."}`. `UPDATE_GOLDEN=1 cargo test` rewrites the
//! expectations; each rewritten file must be checked by hand against the
//! corpus (see `common/mod.rs`) before it is committed.

mod common;

use std::path::PathBuf;

use common::{S, T0, corpus};
use serde_json::{Value, json};
use vispyr_logql::{Direction, Engine, result_json};

fn run_case(case: &Value) -> Value {
    let storage = corpus();
    let engine = Engine::default();
    let query = case["query"].as_str().expect("query");
    let direction = match case["direction"].as_str() {
        Some("forward") => Direction::Forward,
        _ => Direction::Backward,
    };
    let limit = case["limit"].as_u64().unwrap_or(100) as usize;
    let result = if let Some(time_s) = case["time_s"].as_i64() {
        futures::executor::block_on(engine.query_instant(
            &storage,
            query,
            T0 + time_s * S,
            limit,
            direction,
        ))
    } else {
        let start = case["start_s"].as_i64().expect("start_s");
        let end = case["end_s"].as_i64().expect("end_s");
        let step = case["step_s"].as_i64().unwrap_or(60);
        futures::executor::block_on(engine.query_range(
            &storage,
            query,
            T0 + start * S,
            T0 + end * S,
            step * S,
            limit,
            direction,
        ))
    };
    match result {
        Ok(result) => result_json(&result),
        Err(err) => json!({"error": err.to_string()}),
    }
}

#[test]
fn golden_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no golden files in {}", dir.display());
    let mut failures = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("read golden");
        let mut case: Value = serde_json::from_str(&text).expect("golden json");
        let actual = run_case(&case);
        if update {
            case["expected"] = actual;
            let mut out = serde_json::to_string_pretty(&case).expect("encode");
            out.push('\n');
            std::fs::write(&path, out).expect("write golden");
            continue;
        }
        if case["expected"] != actual {
            failures.push(format!(
                "{}:\n  expected {}\n  actual   {}",
                path.display(),
                case["expected"],
                actual
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}
