//! Security checks against the real server (issue 10, first part): SQL cannot
//! reach the file system, the UI's file serving cannot be walked out of
//! ui/dist, and request values never become response headers.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::Server;

/// Sends `request_target` exactly as given (no client-side dot-segment
/// normalisation, unlike URL libraries) and returns (status, head, body).
fn raw_get(server: &Server, request_target: &str, extra_headers: &str) -> (u16, String, String) {
    let address = server.http.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {request_target} HTTP/1.1\r\nHost: {address}\r\n{extra_headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    (status, head.to_string(), body.to_string())
}

#[test]
fn sql_cannot_read_or_write_files() {
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("data"), "");
    let target = temp.path().join("written.csv");
    let statements = [
        "CREATE EXTERNAL TABLE passwd STORED AS CSV LOCATION '/etc/passwd'".to_string(),
        "CREATE EXTERNAL TABLE segs STORED AS PARQUET LOCATION '.'".to_string(),
        format!("COPY (SELECT 1) TO '{}'", target.display()),
        "SELECT * FROM '/etc/passwd'".to_string(),
        "SELECT * FROM read_csv('/etc/passwd')".to_string(),
        "SELECT * FROM read_parquet('/etc/passwd')".to_string(),
        "CREATE TABLE t AS SELECT 1".to_string(),
        "INSERT INTO logs SELECT * FROM logs".to_string(),
        "DROP TABLE spans".to_string(),
        "SET datafusion.catalog.information_schema = false".to_string(),
    ];
    for statement in &statements {
        let (status, body) = server.sql_raw(statement);
        assert_eq!(status, 400, "{statement} → {status} {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{statement}: no error message: {body}");
        assert!(
            !message.contains("root:"),
            "{statement} leaked file content: {message}"
        );
    }
    assert!(!target.exists(), "COPY wrote {}", target.display());
    // Tables still answer, and plain queries still work.
    assert_eq!(server.scalar("SELECT count(*) FROM spans"), 0);
}

#[test]
fn ui_file_serving_stays_inside_ui_dist() {
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("data"), "");
    for target in [
        "/../Cargo.toml",
        "/../../Cargo.toml",
        "/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/../../../Cargo.toml",
        "/assets/..%2f..%2f..%2fCargo.toml",
        "/..%5c..%5cCargo.toml",
        "//etc/passwd",
        "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let (status, head, body) = raw_get(&server, target, "");
        assert!(
            !body.contains("[workspace]") && !body.contains("root:x:0:0"),
            "{target} served a file outside ui/dist: {status}\n{head}"
        );
        assert!(
            status == 400 || status == 404 || body.contains("<html") || body.contains("<!doctype"),
            "{target} → {status}: {head}\n{body}"
        );
    }
}

#[test]
fn request_values_never_become_response_headers() {
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&temp.path().join("data"), "");
    // CR/LF smuggled through the query string, path and a header value: the
    // response must not carry an injected header line.
    for (target, headers) in [
        ("/api/v1/logs/search?query=%0d%0aX-Injected:%20yes", ""),
        ("/traces/%0d%0aX-Injected:%20yes", ""),
        (
            "/prometheus/api/v1/query?query=up%0d%0aX-Injected:%20yes",
            "",
        ),
        (
            "/loki/api/v1/labels",
            "X-Scope-OrgID: a%0d%0aX-Injected: yes\r\n",
        ),
        (
            "/api/v1/profiles/export?query=x%0d%0aX-Injected:%20yes&format=folded",
            "",
        ),
    ] {
        let (status, head, _body) = raw_get(&server, target, headers);
        assert!(
            !head.to_ascii_lowercase().contains("\r\nx-injected"),
            "{target} → {status} with an injected header:\n{head}"
        );
        assert!(status < 500, "{target} → {status}:\n{head}");
    }
}
