//! The command line: config errors, `vispyr sql`, and graceful shutdown.

mod support;

use std::process::Command;

use support::{Server, run_node};

#[test]
fn an_unknown_config_key_stops_start_up_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vispyr.yaml");
    std::fs::write(&config, "storage:\n  flush_max_bites: 1MiB\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_vispyr"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown field `flush_max_bites`"),
        "{stderr}"
    );
    assert!(stderr.contains("vispyr.yaml"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
}

#[test]
fn a_missing_config_file_given_explicitly_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_vispyr"))
        .args(["serve", "--config"])
        .arg(dir.path().join("nope.yaml"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("failed to read config file"), "{stderr}");
}

#[test]
fn vispyr_sql_prints_a_table_and_reports_bad_sql() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    run_node(&server.otlp_http, "http/protobuf", "cli-e2e");

    let output = Command::new(env!("CARGO_BIN_EXE_vispyr"))
        .args(["sql", "--server", &server.http])
        .arg("select span_name, span_kind from spans order by span_name")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "span_name",
        "GET /users/:id",
        "SELECT users",
        "render",
        "client",
        "3 rows",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }

    let output = Command::new(env!("CARGO_BIN_EXE_vispyr"))
        .args(["sql", "--server", &server.http, "select nope from spans"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("400 Bad Request") && stderr.contains("nope"),
        "{stderr}"
    );
}

#[test]
fn the_sql_api_limits_rows_and_rejects_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "query:\n  sql_row_limit: 5\n");
    let body = server.sql("select * from generate_series(1, 20)");
    assert_eq!(body["rows"].as_array().unwrap().len(), 5);
    assert_eq!(body["truncated"], true);
    let body = server.sql("select 1 as one");
    assert_eq!(body["columns"], serde_json::json!(["one"]));
    assert_eq!(body["truncated"], false);

    // Like `curl -d`, which sends a form content type: the body is still read as JSON.
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/sql", server.http))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"sql": "select 2 as two"}"#)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body["rows"], serde_json::json!([[2]]));
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/sql", server.http))
        .body("select 1")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("must be JSON"),
        "{body}"
    );

    let (status, body) = server.sql_raw("create table t as select 1");
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.sql_raw("selec 1");
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("selec"), "{body}");
}
