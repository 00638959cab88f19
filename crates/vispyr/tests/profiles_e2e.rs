//! Profiles end to end against a live `vispyr serve`: the real Pyroscope SDKs for
//! Node.js and Python, a JFR recording from the local JDK, OTLP profiles over gRPC
//! and HTTP, and bad input.

mod support;

use std::process::Command;

use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::profiles::v1development as otlp;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use reqwest::blocking::Client;
use serde_json::Value;
use support::{Server, repo_root};

const WALL: &str = "wall:wall:nanoseconds:wall:nanoseconds";
const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

fn get(server: &Server, path: &str, params: &[(&str, &str)]) -> Value {
    let response = Client::new()
        .get(format!("{}{path}", server.http))
        .query(params)
        .send()
        .expect("request");
    let status = response.status();
    let body: Value = response.json().expect("json body");
    assert!(status.is_success(), "{path} {params:?}: {status} {body}");
    body
}

fn flamegraph(server: &Server, query: &str, rules: &str) -> Value {
    get(
        server,
        "/api/v1/profiles/flamegraph",
        &[
            ("query", query),
            ("from", "now-1h"),
            ("until", "now"),
            ("rules", rules),
        ],
    )
}

/// Sum of the totals of every node for function `name` that is not below another
/// one. Node.js frames are named `file:function:line`, as `@datadog/pprof` names them.
fn share(node: &Value, name: &str) -> i64 {
    let node_name = node["name"].as_str().unwrap_or("");
    if node_name == name || node_name.contains(&format!(":{name}:")) {
        return node["total"].as_i64().unwrap();
    }
    node["children"]
        .as_array()
        .map(|children| children.iter().map(|c| share(c, name)).sum())
        .unwrap_or(0)
}

fn root(graph: &Value) -> &Value {
    &graph["flamegraph"]["root"]
}

fn run_script(mut command: Command) {
    let output = command.output().expect("run profiling workload");
    assert!(
        output.status.success(),
        "workload failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn pyroscope_nodejs_sdk_wall_and_heap() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let node_dir = repo_root().join("tests/e2e/node");
    let mut command = Command::new("node");
    command
        .arg(node_dir.join("profile.mjs"))
        // A trailing slash, as users write it: the SDK then posts to `//ingest`.
        .env("VISPYR_PYROSCOPE_URL", format!("{}/", server.http))
        .env("APP_NAME", "node-prof")
        .env("DURATION_MS", "6000");
    run_script(command);

    let types = get(&server, "/api/v1/profiles/types", &[("from", "now-1h")]);
    let types: Vec<&str> = types["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(types.contains(&WALL), "{types:?}");
    assert!(
        types
            .iter()
            .any(|t| t.starts_with("memory:inuse_space:bytes")),
        "{types:?}"
    );

    let all = flamegraph(
        &server,
        &format!("{WALL}{{service_name=\"node-prof\"}}"),
        "none",
    );
    let total = root(&all)["total"].as_i64().unwrap();
    let hot = share(root(&all), "burnCpuHot");
    let light = share(root(&all), "lightWork");
    assert!(total > 0, "{all}");
    assert!(hot * 2 > total, "burnCpuHot {hot} of {total}");
    // The workload spends 3× as long in the hot function; CPU contention from
    // other tests blurs the ratio, so assert a clear but looser margin.
    assert!(2 * hot > 3 * light, "burnCpuHot {hot} vs lightWork {light}");

    // Dynamic labels from wrapWithLabels are selectable.
    let labelled = flamegraph(
        &server,
        &format!("{WALL}{{service_name=\"node-prof\", route=\"/hot\"}}"),
        "none",
    );
    let labelled_total = root(&labelled)["total"].as_i64().unwrap();
    assert!(labelled_total > 0 && labelled_total < total);
    assert!(share(root(&labelled), "burnCpuHot") * 10 > labelled_total * 8);
    // Static tags too.
    let regions = get(
        &server,
        "/api/v1/profiles/label_values",
        &[
            ("name", "region"),
            ("query", "{service_name=\"node-prof\"}"),
        ],
    );
    assert_eq!(regions["values"], serde_json::json!(["eu-north"]));

    // The Node.js preset hides node internals without changing the total.
    let preset = flamegraph(
        &server,
        &format!("{WALL}{{service_name=\"node-prof\"}}"),
        "preset:nodejs",
    );
    assert_eq!(root(&preset)["total"].as_i64().unwrap(), total);
    assert_eq!(share(root(&preset), "burnCpuHot"), hot);

    // The heap profile names the allocating function.
    let heap = flamegraph(
        &server,
        "memory:inuse_space:bytes:inuse_space:bytes{service_name=\"node-prof\"}",
        "none",
    );
    assert!(root(&heap)["total"].as_i64().unwrap() > 0, "{heap}");

    // Samples are in SQL, stacks deduplicated.
    let rows =
        server.scalar("SELECT count(*) FROM profile_samples WHERE service_name = 'node-prof'");
    assert!(rows.as_i64().unwrap() > 0);
    // Each stack is stored once, not once per profile: the samples of many
    // profiles point to far fewer stack rows. (Two uploads racing on the same new
    // stack may both store it; that is rare and harmless.)
    let samples = server
        .scalar("SELECT count(*) FROM profile_samples WHERE service_name = 'node-prof'")
        .as_i64()
        .unwrap();
    let stacks = server
        .scalar("SELECT count(*) FROM profile_stacks WHERE service_name = 'node-prof'")
        .as_i64()
        .unwrap();
    let distinct = server
        .scalar(
            "SELECT count(DISTINCT stack_id) FROM profile_stacks WHERE service_name = 'node-prof'",
        )
        .as_i64()
        .unwrap();
    assert!(
        stacks < samples,
        "{stacks} stack rows for {samples} sample rows"
    );
    assert!(
        stacks * 10 <= distinct * 11,
        "{stacks} stack rows, {distinct} distinct"
    );
}

#[test]
fn pyroscope_python_sdk_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let python_dir = repo_root().join("tests/e2e/python");
    let mut command = Command::new(python_dir.join(".venv/bin/python"));
    command
        .arg(python_dir.join("profile.py"))
        .env("VISPYR_PYROSCOPE_URL", &server.http)
        .env("APP_NAME", "py-prof")
        .env("DURATION_MS", "6000");
    run_script(command);

    let all = flamegraph(
        &server,
        &format!("{CPU}{{service_name=\"py-prof\"}}"),
        "none",
    );
    let total = root(&all)["total"].as_i64().unwrap();
    let hot = share(root(&all), "burn_cpu_hot");
    let light = share(root(&all), "light_work");
    assert!(hot * 2 > total, "burn_cpu_hot {hot} of {total}: {all}");
    assert!(
        2 * hot > 3 * light,
        "burn_cpu_hot {hot} vs light_work {light}"
    );
    // ~6 s of mostly busy CPU time, in nanoseconds.
    assert!(total > 1_000_000_000, "{total}");

    let labelled = flamegraph(
        &server,
        &format!("{CPU}{{service_name=\"py-prof\", route=\"/hot\"}}"),
        "none",
    );
    let labelled_total = root(&labelled)["total"].as_i64().unwrap();
    assert!(share(root(&labelled), "burn_cpu_hot") * 10 > labelled_total * 7);

    // The timeline adds up to the flamegraph's total.
    let timeline = get(
        &server,
        "/api/v1/profiles/timeline",
        &[
            ("query", &format!("{CPU}{{service_name=\"py-prof\"}}")),
            ("from", "now-1h"),
            ("step", "10s"),
        ],
    );
    let points: i64 = timeline["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_i64().unwrap())
        .sum();
    assert_eq!(points, total);
}

#[test]
fn jfr_upload_from_the_local_jdk() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let jfr = std::fs::read(repo_root().join("crates/jfr/testdata/hot.jfr")).unwrap();
    let form = reqwest::blocking::multipart::Form::new().part(
        "jfr",
        reqwest::blocking::multipart::Part::bytes(jfr).file_name("jfr"),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let response = Client::new()
        .post(format!("{}/ingest", server.http))
        .query(&[
            ("name", "java-app.cpu{env=test}"),
            ("format", "jfr"),
            ("from", &(now - 10).to_string()),
            ("until", &now.to_string()),
            ("sampleRate", "100"),
            ("spyName", "javaspy"),
        ])
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().unwrap());

    let all = flamegraph(
        &server,
        &format!("{CPU}{{service_name=\"java-app\"}}"),
        "none",
    );
    let total = root(&all)["total"].as_i64().unwrap();
    let hot = share(root(&all), "Hot.burn");
    assert!(hot * 2 > total, "Hot.burn {hot} of {total}");
    // The Java preset collapses the JDK's own frames; the total stays.
    let preset = flamegraph(
        &server,
        &format!("{CPU}{{service_name=\"java-app\"}}"),
        "preset:java",
    );
    assert_eq!(root(&preset)["total"].as_i64().unwrap(), total);
    let types = get(&server, "/api/v1/profiles/types", &[("from", "now-1h")]);
    assert!(
        types["types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().starts_with("memory:alloc_")),
        "{types}"
    );
}

/// An OTLP profiles request with one CPU profile: `main → hot` 30 samples and
/// `main → cold` 10, one of them in a span.
fn otlp_request(service: &str) -> ExportProfilesServiceRequest {
    let strings: Vec<String> = [
        "",
        "cpu",
        "nanoseconds",
        "main",
        "hot",
        "cold",
        "app.js",
        "env",
        "prod",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let function = |name: i32| otlp::Function {
        name_strindex: name,
        filename_strindex: 6,
        ..Default::default()
    };
    let location = |function_index: i32, line: i64| otlp::Location {
        lines: vec![otlp::Line {
            function_index,
            line,
            column: 0,
        }],
        ..Default::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let dictionary = otlp::ProfilesDictionary {
        string_table: strings,
        function_table: vec![
            otlp::Function::default(),
            function(3),
            function(4),
            function(5),
        ],
        location_table: vec![
            otlp::Location::default(),
            location(1, 1),
            location(2, 5),
            location(3, 9),
        ],
        stack_table: vec![
            otlp::Stack::default(),
            otlp::Stack {
                location_indices: vec![2, 1],
            },
            otlp::Stack {
                location_indices: vec![3, 1],
            },
        ],
        link_table: vec![
            otlp::Link::default(),
            otlp::Link {
                trace_id: vec![1; 16],
                span_id: vec![0xab; 8],
            },
        ],
        attribute_table: vec![
            otlp::KeyValueAndUnit::default(),
            otlp::KeyValueAndUnit {
                key_strindex: 7,
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("prod".into())),
                }),
                unit_strindex: 0,
            },
        ],
        ..Default::default()
    };
    let sample = |stack_index: i32, value: i64, link_index: i32| otlp::Sample {
        stack_index,
        values: vec![value],
        link_index,
        ..Default::default()
    };
    ExportProfilesServiceRequest {
        resource_profiles: vec![otlp::ResourceProfiles {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_profiles: vec![otlp::ScopeProfiles {
                profiles: vec![otlp::Profile {
                    sample_type: Some(otlp::ValueType {
                        type_strindex: 1,
                        unit_strindex: 2,
                    }),
                    period_type: Some(otlp::ValueType {
                        type_strindex: 1,
                        unit_strindex: 2,
                    }),
                    period: 10_000_000,
                    time_unix_nano: now - 10_000_000_000,
                    duration_nano: 10_000_000_000,
                    attribute_indices: vec![1],
                    samples: vec![sample(1, 30, 0), sample(2, 9, 0), sample(2, 1, 1)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
        dictionary: Some(dictionary),
    }
}

#[test]
fn otlp_profiles_over_http_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");

    let response = Client::new()
        .post(format!("{}/v1development/profiles", server.otlp_http))
        .header("Content-Type", "application/x-protobuf")
        .body(otlp_request("otlp-http").encode_to_vec())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use opentelemetry_proto::tonic::collector::profiles::v1development::profiles_service_client::ProfilesServiceClient;
        let mut client = ProfilesServiceClient::connect(server.otlp_grpc.clone()).await.unwrap();
        client.export(otlp_request("otlp-grpc")).await.unwrap();
    });

    for service in ["otlp-http", "otlp-grpc"] {
        let graph = flamegraph(
            &server,
            &format!("{CPU}{{service_name=\"{service}\", env=\"prod\"}}"),
            "none",
        );
        let main = &root(&graph)["children"][0];
        assert_eq!(main["name"], "main", "{graph}");
        assert_eq!(main["total"], 40);
        assert_eq!(share(root(&graph), "hot"), 30);
        assert_eq!(share(root(&graph), "cold"), 10);
        // The sample linked to a span is selectable by span id.
        let span = get(
            &server,
            "/api/v1/profiles/flamegraph",
            &[
                ("query", &format!("{CPU}{{service_name=\"{service}\"}}")),
                ("span_id", "abababababababab"),
                ("rules", "none"),
            ],
        );
        assert_eq!(root(&span)["total"], 1, "{span}");
    }
}

#[test]
fn bad_profiles_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let client = Client::new();
    let ingest = |query: &[(&str, &str)], body: Vec<u8>| {
        let response = client
            .post(format!("{}/ingest", server.http))
            .query(query)
            .body(body)
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    let fixture =
        std::fs::read(repo_root().join("crates/receivers/testdata/pyroscope/node-wall.pprof.gz"))
            .unwrap();

    let (status, message) = ingest(
        &[("name", "a"), ("format", "pprof")],
        fixture[..fixture.len() / 2].to_vec(),
    );
    assert_eq!(status, 400);
    assert!(message.contains("gzip"), "{message}");

    // A sample pointing at a location that does not exist.
    let bad = pprof_with_bad_location();
    let (status, message) = ingest(&[("name", "a"), ("format", "pprof")], bad);
    assert_eq!(status, 400);
    assert!(message.contains("location 99"), "{message}");

    let (status, message) = ingest(&[("name", "a"), ("format", "speedscope")], b"{}".to_vec());
    assert_eq!(status, 400);
    assert!(message.contains("unknown format"), "{message}");

    let deep = format!("{} 1\n", vec!["f"; 5000].join(";"));
    let (status, message) = ingest(&[("name", "a.cpu")], deep.into_bytes());
    assert_eq!(status, 400);
    assert!(message.contains("deeper"), "{message}");

    let (status, message) = ingest(&[("name", "a{oops")], b"a;b 1\n".to_vec());
    assert_eq!(status, 400);
    assert!(message.contains("labels"), "{message}");

    let (status, message) = ingest(&[], b"a;b 1\n".to_vec());
    assert_eq!(status, 400);
    assert!(message.contains("name"), "{message}");

    // Still serving: a valid upload lands.
    let (status, message) = ingest(&[("name", "ok.cpu")], b"main;work 5\n".to_vec());
    assert_eq!(status, 200, "{message}");
    let graph = flamegraph(&server, &format!("{CPU}{{service_name=\"ok\"}}"), "none");
    assert_eq!(root(&graph)["total"], 50_000_000);

    let selector = client
        .get(format!("{}/api/v1/profiles/flamegraph", server.http))
        .query(&[("query", "cpu{")])
        .send()
        .unwrap();
    assert_eq!(selector.status(), 400);
}

/// A pprof whose only sample refers to location 99, which does not exist.
fn pprof_with_bad_location() -> Vec<u8> {
    use vispyr_proto::pprof::{Profile, Sample, ValueType};
    Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }],
        sample: vec![Sample {
            location_id: vec![99],
            value: vec![1],
            label: vec![],
        }],
        string_table: vec!["".into(), "cpu".into(), "nanoseconds".into()],
        ..Profile::default()
    }
    .encode_to_vec()
}

fn connect(server: &Server, method: &str, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let response = Client::new()
        .post(format!(
            "{}/pyroscope/querier.v1.QuerierService/{method}",
            server.http
        ))
        .header("Content-Type", content_type)
        .header("Connect-Protocol-Version", "1")
        .body(body)
        .send()
        .unwrap();
    (
        response.status().as_u16(),
        response.bytes().unwrap().to_vec(),
    )
}

fn connect_json(server: &Server, method: &str, body: Value) -> Value {
    let (status, bytes) = connect(
        server,
        method,
        "application/json",
        body.to_string().into_bytes(),
    );
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status, 200, "{method}: {body}");
    body
}

#[test]
fn pyroscope_query_api_as_grafana_calls_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    for (name, body) in [
        ("graf.cpu{route=/a}", "main;hot 7\nmain;cold 3\n"),
        ("graf.cpu{route=/b}", "main;hot 5\n"),
    ] {
        let response = Client::new()
            .post(format!("{}/ingest", server.http))
            .query(&[("name", name), ("sampleRate", "100")])
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let range = |body: Value| {
        let mut body = body;
        body["start"] = Value::String((now_ms - 3_600_000).to_string());
        body["end"] = Value::String((now_ms + 60_000).to_string());
        body
    };

    let types = connect_json(&server, "ProfileTypes", range(serde_json::json!({})));
    assert_eq!(types["profileTypes"][0]["ID"], CPU, "{types}");
    assert_eq!(types["profileTypes"][0]["sampleUnit"], "nanoseconds");

    let names = connect_json(
        &server,
        "LabelNames",
        range(serde_json::json!({ "matchers": ["{service_name=\"graf\"}"] })),
    );
    assert!(
        names["names"]
            .as_array()
            .unwrap()
            .contains(&Value::from("route")),
        "{names}"
    );
    let values = connect_json(
        &server,
        "LabelValues",
        range(serde_json::json!({ "name": "route", "matchers": ["{}"] })),
    );
    assert_eq!(values["names"], serde_json::json!(["/a", "/b"]));

    let graph = connect_json(
        &server,
        "SelectMergeStacktraces",
        range(
            serde_json::json!({ "profileTypeID": CPU, "labelSelector": "{service_name=\"graf\"}" }),
        ),
    );
    let flamegraph = &graph["flamegraph"];
    assert_eq!(flamegraph["total"], "150000000", "{graph}");
    assert_eq!(flamegraph["maxSelf"], "120000000");
    assert_eq!(flamegraph["names"][0], "total");
    assert!(
        flamegraph["names"]
            .as_array()
            .unwrap()
            .contains(&Value::from("hot"))
    );
    // Root, main, then hot and cold side by side.
    assert_eq!(flamegraph["levels"].as_array().unwrap().len(), 3);

    let selected = connect_json(
        &server,
        "SelectMergeStacktraces",
        range(
            serde_json::json!({ "profileTypeID": CPU, "labelSelector": "{service_name=\"graf\", route=\"/b\"}" }),
        ),
    );
    assert_eq!(selected["flamegraph"]["total"], "50000000");

    // Grafana's backend speaks protobuf.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Request {
        #[prost(string, tag = "1")]
        profile_type_id: String,
        #[prost(string, tag = "2")]
        label_selector: String,
        #[prost(int64, tag = "3")]
        start: i64,
        #[prost(int64, tag = "4")]
        end: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct FlameGraph {
        #[prost(string, repeated, tag = "1")]
        names: Vec<String>,
        #[prost(int64, tag = "3")]
        total: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Response {
        #[prost(message, optional, tag = "1")]
        flamegraph: Option<FlameGraph>,
    }
    let request = Request {
        profile_type_id: CPU.into(),
        label_selector: "{}".into(),
        start: now_ms - 3_600_000,
        end: now_ms + 60_000,
    };
    let (status, bytes) = connect(
        &server,
        "SelectMergeStacktraces",
        "application/proto",
        request.encode_to_vec(),
    );
    assert_eq!(status, 200);
    let response = Response::decode(&bytes[..]).unwrap();
    assert_eq!(response.flamegraph.unwrap().total, 150_000_000);

    let series = connect_json(
        &server,
        "SelectSeries",
        range(
            serde_json::json!({ "profileTypeID": CPU, "labelSelector": "{}", "step": 60.0, "groupBy": ["route"] }),
        ),
    );
    let series = series["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    let sum: f64 = series
        .iter()
        .flat_map(|s| s["points"].as_array().unwrap())
        .map(|p| p["value"].as_f64().unwrap())
        .sum();
    assert_eq!(sum, 150_000_000.0);

    let stats = connect_json(&server, "GetProfileStats", serde_json::json!({}));
    assert_eq!(stats["dataIngested"], true);

    let (status, bytes) = connect(
        &server,
        "SelectMergeStacktraces",
        "application/json",
        br#"{"profileTypeID":"cpu","labelSelector":"{"}"#.to_vec(),
    );
    assert_eq!(status, 400);
    let error: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(error["code"], "invalid_argument");
}

fn ingest_folded(server: &Server, name: &str, from: u64, until: u64, body: &str) {
    let response = Client::new()
        .post(format!("{}/ingest", server.http))
        .query(&[
            ("name", name),
            ("from", &from.to_string()),
            ("until", &until.to_string()),
        ])
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().unwrap());
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn view_rules_are_editable_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let config = "profiles:\n  view_rules:\n    rules:\n      - id: cfg-hide\n        kind: hide\n        pattern: \"node:internal/*\"\n        field: file\n";
    let mut server = Server::start_in(&dir.path().join("data"), config);
    let now = unix_now();
    // Folded frames carry no file, so the config rule (on files) does not apply.
    ingest_folded(
        &server,
        "rules.cpu",
        now - 10,
        now,
        "main;express.handle;express.next;app.handler 6\nmain;express.handle;app.other 4\n",
    );
    let query = format!("{CPU}{{service_name=\"rules\"}}");
    let client = Client::new();
    let rules_url = format!("{}/api/v1/profiles/rules", server.http);

    let listed: Value = client.get(&rules_url).send().unwrap().json().unwrap();
    assert_eq!(listed["rules"][0]["id"], "cfg-hide");
    assert_eq!(listed["rules"][0]["source"], "config");

    // Collapse the express frames into one.
    let created = client
        .post(&rules_url)
        .json(&serde_json::json!({
            "kind": "collapse", "pattern": "regex:^express\\.", "field": "function", "name": "express"
        }))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    let graph = flamegraph(&server, &query, "default");
    let main = &root(&graph)["children"][0];
    assert_eq!(main["children"][0]["name"], "express", "{graph}");
    assert_eq!(main["children"][0]["total"], 100_000_000);
    assert_eq!(root(&graph)["total"], 100_000_000);
    // `rules=none` shows the raw stacks.
    let raw = flamegraph(&server, &query, "none");
    assert_eq!(
        root(&raw)["children"][0]["children"][0]["name"],
        "express.handle"
    );

    // A config rule cannot be changed through the API; a bad pattern is refused.
    let conflict = client
        .delete(format!("{rules_url}/cfg-hide"))
        .send()
        .unwrap();
    assert_eq!(conflict.status(), 409);
    let bad = client
        .post(&rules_url)
        .json(&serde_json::json!({ "kind": "hide", "pattern": "regex:(unclosed" }))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().unwrap().contains("unclosed"));

    // Rules survive a restart.
    server.stop();
    server.restart();
    let rules_url = format!("{}/api/v1/profiles/rules", server.http);
    let graph = flamegraph(&server, &query, "default");
    assert_eq!(
        root(&graph)["children"][0]["children"][0]["name"],
        "express"
    );

    // Tag and group by tag.
    let replaced = client
        .put(format!("{rules_url}/{id}"))
        .json(&serde_json::json!({
            "kind": "tag", "pattern": "regex:^app\\.", "field": "function", "name": "app", "color": "#ff0000"
        }))
        .send()
        .unwrap();
    assert_eq!(replaced.status(), 200);
    let grouped = get(
        &server,
        "/api/v1/profiles/flamegraph",
        &[("query", &query), ("group_by", "tag"), ("from", "now-1h")],
    );
    assert_eq!(grouped["flamegraph"]["tags"][0]["name"], "app", "{grouped}");
    let table = get(
        &server,
        "/api/v1/profiles/table",
        &[("query", &query), ("group_by", "tag")],
    );
    let app = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == "app")
        .unwrap();
    assert_eq!(app["self"], 100_000_000);

    let deleted = client.delete(format!("{rules_url}/{id}")).send().unwrap();
    assert_eq!(deleted.status(), 204);
    let missing = client.delete(format!("{rules_url}/{id}")).send().unwrap();
    assert_eq!(missing.status(), 404);
}

#[test]
fn diff_export_and_trace_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(&dir.path().join("data"), "");
    let now = unix_now();
    ingest_folded(
        &server,
        "shop.cpu{version=v1}",
        now - 20,
        now - 10,
        "main;a 6\nmain;b 4\n",
    );
    ingest_folded(
        &server,
        "shop.cpu{version=v2}",
        now - 10,
        now,
        "main;a 2\nmain;b 9\n",
    );

    let diff = get(
        &server,
        "/api/v1/profiles/diff",
        &[
            (
                "baseline",
                &format!("{CPU}{{service_name=\"shop\", version=\"v1\"}}"),
            ),
            (
                "comparison",
                &format!("{CPU}{{service_name=\"shop\", version=\"v2\"}}"),
            ),
            ("rules", "none"),
        ],
    );
    let main = &diff["diff"]["root"]["children"][0];
    let b = main["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "b")
        .unwrap();
    assert_eq!(b["left_total"], 40_000_000, "{diff}");
    assert_eq!(b["right_total"], 90_000_000);

    let folded = Client::new()
        .get(format!("{}/api/v1/profiles/export", server.http))
        .query(&[
            ("query", format!("{CPU}{{service_name=\"shop\"}}").as_str()),
            ("format", "folded"),
        ])
        .send()
        .unwrap()
        .text()
        .unwrap();
    let mut lines: Vec<&str> = folded.lines().collect();
    lines.sort();
    assert_eq!(lines, ["main;a 80000000", "main;b 130000000"]);

    let pprof = Client::new()
        .get(format!("{}/api/v1/profiles/export", server.http))
        .query(&[
            ("query", format!("{CPU}{{service_name=\"shop\"}}").as_str()),
            ("format", "pprof"),
        ])
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&pprof[..]), &mut raw).unwrap();
    let profile = vispyr_proto::pprof::Profile::decode(&raw[..]).unwrap();
    let total: i64 = profile.sample.iter().map(|s| s.value[0]).sum();
    assert_eq!(total, 210_000_000);
    assert!(profile.string_table.contains(&"main".to_string()));

    // A trace of `shop` whose spans carry no profile labels: its profile is the
    // service's samples during the trace, and the answer says it is approximate.
    let start = (now - 15) * 1_000_000_000;
    let span = opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: vec![7; 16],
        span_id: vec![8; 8],
        name: "GET /cart".into(),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 10_000_000_000,
        ..Default::default()
    };
    let response = Client::new()
        .post(format!("{}/v1/traces", server.otlp_http))
        .header("Content-Type", "application/x-protobuf")
        .body(support::trace_request("shop", vec![span]).encode_to_vec())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let traced = get(
        &server,
        "/api/v1/profiles/flamegraph",
        &[
            ("query", CPU),
            ("trace_id", "07070707070707070707070707070707"),
            ("rules", "none"),
        ],
    );
    assert_eq!(traced["approximate"], true, "{traced}");
    assert!(traced["note"].as_str().unwrap().contains("shop"));
    // The trace [now-15, now-5] overlaps v1 [now-20, now-10] and v2 [now-10, now].
    assert_eq!(root(&traced)["total"], 210_000_000);
    let unknown = Client::new()
        .get(format!("{}/api/v1/profiles/flamegraph", server.http))
        .query(&[
            ("query", CPU),
            ("trace_id", "0000000000000000000000000000abcd"),
        ])
        .send()
        .unwrap();
    assert_eq!(unknown.status(), 404);
}
