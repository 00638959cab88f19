//! Property tests of the exposition parser: it never panics, it round-trips
//! generated expositions in both formats, and errors point at the bad line.

use std::collections::BTreeMap;

use proptest::prelude::*;
use vispyr_scrape::parse;

const TEXT: &str = "text/plain; version=0.0.4";
const OM: &str = "application/openmetrics-text; version=1.0.0";

#[derive(Debug, Clone)]
struct Family {
    name: String,
    kind_index: usize,
    help: Option<String>,
    samples: Vec<GenSample>,
}

#[derive(Debug, Clone)]
struct GenSample {
    labels: BTreeMap<String, String>,
    value: f64,
    /// Milliseconds.
    timestamp: Option<i64>,
}

fn value_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
        (-1000i32..1000).prop_map(f64::from),
    ]
}

fn sample_strategy() -> impl Strategy<Value = GenSample> {
    (
        prop::collection::btree_map(
            "[a-zA-Z_][a-zA-Z0-9_]{0,8}".prop_filter("reserved", |n| n != "__name__"),
            "(?s).{0,12}",
            0..4,
        ),
        value_strategy(),
        prop::option::of(0i64..4_000_000_000_000),
    )
        .prop_map(|(labels, value, timestamp)| GenSample {
            labels,
            value,
            timestamp,
        })
}

fn family_strategy() -> impl Strategy<Value = Family> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        0usize..5,
        prop::option::of("([^ \t\n][^\n]{0,20})?"),
        prop::collection::vec(sample_strategy(), 1..4),
    )
        .prop_map(|(name, kind_index, help, samples)| Family {
            name,
            kind_index,
            help,
            samples,
        })
}

fn families_strategy() -> impl Strategy<Value = Vec<Family>> {
    prop::collection::vec(family_strategy(), 1..5).prop_map(|families| {
        let mut seen = std::collections::HashSet::new();
        families
            .into_iter()
            .filter(|f| seen.insert(f.name.clone()))
            .collect()
    })
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
}

fn escape_help(help: &str, openmetrics: bool) -> String {
    let escaped = help.replace('\\', "\\\\").replace('\n', "\\n");
    if openmetrics {
        escaped.replace('"', "\\\"")
    } else {
        escaped
    }
}

fn render_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{value:?}")
    }
}

const TEXT_KINDS: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];
const OM_KINDS: [&str; 5] = ["counter", "gauge", "histogram", "summary", "unknown"];

fn render(families: &[Family], openmetrics: bool) -> String {
    let mut out = String::new();
    for family in families {
        if let Some(help) = &family.help {
            out.push_str(&format!(
                "# HELP {} {}\n",
                family.name,
                escape_help(help, openmetrics)
            ));
        }
        let kinds = if openmetrics { OM_KINDS } else { TEXT_KINDS };
        out.push_str(&format!(
            "# TYPE {} {}\n",
            family.name, kinds[family.kind_index]
        ));
        for sample in &family.samples {
            out.push_str(&family.name);
            if !sample.labels.is_empty() {
                let pairs: Vec<String> = sample
                    .labels
                    .iter()
                    .map(|(n, v)| format!("{n}=\"{}\"", escape_label(v)))
                    .collect();
                out.push_str(&format!("{{{}}}", pairs.join(",")));
            }
            out.push(' ');
            out.push_str(&render_value(sample.value));
            if let Some(ms) = sample.timestamp {
                if openmetrics {
                    out.push_str(&format!(" {}.{:03}", ms / 1000, ms % 1000));
                } else {
                    out.push_str(&format!(" {ms}"));
                }
            }
            out.push('\n');
        }
    }
    if openmetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn check_round_trip(families: &[Family], openmetrics: bool) -> Result<(), TestCaseError> {
    let body = render(families, openmetrics);
    let content_type = if openmetrics { OM } else { TEXT };
    let parsed = parse(body.as_bytes(), content_type, -5)
        .map_err(|err| TestCaseError::fail(format!("{err}\n{body}")))?;
    let expected: Vec<(&Family, &GenSample)> = families
        .iter()
        .flat_map(|f| f.samples.iter().map(move |s| (f, s)))
        .collect();
    prop_assert_eq!(parsed.samples.len(), expected.len());
    for (got, (family, want)) in parsed.samples.iter().zip(&expected) {
        let mut labels: Vec<(String, String)> = want.labels.clone().into_iter().collect();
        labels.push(("__name__".to_string(), family.name.clone()));
        labels.sort();
        prop_assert_eq!(&got.sample.labels, &labels);
        if want.value.is_nan() {
            prop_assert!(got.sample.v.is_nan());
        } else {
            prop_assert_eq!(got.sample.v, want.value);
        }
        prop_assert_eq!(got.explicit_timestamp, want.timestamp.is_some());
        match want.timestamp {
            // Float seconds times 1000, truncated: may land 1 ms low.
            Some(ms) if openmetrics => {
                prop_assert!((got.sample.t - ms).abs() <= 1, "{} vs {}", got.sample.t, ms)
            }
            Some(ms) => prop_assert_eq!(got.sample.t, ms),
            None => prop_assert_eq!(got.sample.t, -5),
        }
    }
    prop_assert_eq!(parsed.metadata.len(), families.len());
    for (meta, family) in parsed.metadata.iter().zip(families) {
        prop_assert_eq!(&meta.metric, &family.name);
        prop_assert_eq!(&meta.help, family.help.as_deref().unwrap_or(""));
        let kind = if openmetrics {
            OM_KINDS[family.kind_index]
        } else {
            TEXT_KINDS[family.kind_index]
        };
        let kind = if kind == "untyped" { "unknown" } else { kind };
        prop_assert_eq!(meta.kind.as_str(), kind);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512), om in any::<bool>()) {
        let _ = parse(&body, if om { OM } else { TEXT }, 0);
    }

    #[test]
    fn never_panics_on_exposition_like_noise(body in "[a-z_{}=\",# \n\\\\.0-9+\\-EOFHLPTYUNI\t]{0,200}", om in any::<bool>()) {
        let _ = parse(body.as_bytes(), if om { OM } else { TEXT }, 0);
    }

    #[test]
    fn text_format_round_trips(families in families_strategy()) {
        check_round_trip(&families, false)?;
    }

    #[test]
    fn openmetrics_round_trips(families in families_strategy()) {
        check_round_trip(&families, true)?;
    }

    #[test]
    fn errors_point_at_the_corrupted_line(families in families_strategy(), pick in any::<prop::sample::Index>(), om in any::<bool>()) {
        let body = render(&families, om);
        let mut lines: Vec<&str> = body.lines().collect();
        // Corrupt a line other than `# EOF`.
        let candidates = if om { lines.len() - 1 } else { lines.len() };
        let index = pick.index(candidates);
        lines[index] = "bad{ 1";
        let corrupted = lines.join("\n") + "\n";
        let err = parse(corrupted.as_bytes(), if om { OM } else { TEXT }, 0).unwrap_err();
        prop_assert_eq!(err.line, index + 1, "{}", err);
    }
}
