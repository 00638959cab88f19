//! The `name` query parameter of Pyroscope's `/ingest`:
//! `app.cpu{env=prod,region=eu-north}` — an application name, usually suffixed with
//! the profile's name, and static labels.

/// Suffixes the SDKs append to the application name; stripped to get the service.
const PROFILE_SUFFIXES: &[&str] = &[
    "cpu",
    "itimer",
    "wall",
    "alloc_objects",
    "alloc_space",
    "inuse_objects",
    "inuse_space",
    "alloc_in_new_tlab_objects",
    "alloc_in_new_tlab_bytes",
    "alloc_outside_tlab_objects",
    "alloc_outside_tlab_bytes",
    "live",
    "goroutines",
    "goroutine",
    "mutex_count",
    "mutex_duration",
    "block_count",
    "block_duration",
    "lock_count",
    "lock_duration",
    "contentions",
    "delay",
];

/// A parsed `name` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppName {
    pub service_name: String,
    /// The profile suffix (`cpu`, `wall`, `alloc_space` …) if there was one.
    pub profile: Option<String>,
    pub labels: Vec<(String, String)>,
}

/// Parses `app.cpu{k=v,...}`. A `service_name` label overrides the application name.
pub fn parse_app_name(name: &str) -> Result<AppName, String> {
    let name = name.trim();
    let (app, labels) = match name.find('{') {
        Some(open) => {
            let Some(inner) = name[open + 1..].strip_suffix('}') else {
                return Err(format!("invalid name {name:?}: labels must end with '}}'"));
            };
            (&name[..open], parse_labels(inner, name)?)
        }
        None => (name, Vec::new()),
    };
    if app.is_empty() {
        return Err("missing application name: pass name=<app>.<profile>{labels}".into());
    }
    let (service, profile) = match app.rsplit_once('.') {
        Some((service, suffix)) if PROFILE_SUFFIXES.contains(&suffix) && !service.is_empty() => {
            (service, Some(suffix.to_owned()))
        }
        _ => (app, None),
    };
    let mut parsed = AppName {
        service_name: service.to_owned(),
        profile,
        labels: Vec::with_capacity(labels.len()),
    };
    for (key, value) in labels {
        if key == "service_name" {
            parsed.service_name = value;
        } else if key != "__name__" {
            parsed.labels.push((key, value));
        }
    }
    Ok(parsed)
}

fn parse_labels(inner: &str, whole: &str) -> Result<Vec<(String, String)>, String> {
    let mut labels = Vec::new();
    for pair in inner.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!(
                "invalid name {whole:?}: label {pair:?} is not key=value"
            ));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!(
                "invalid name {whole:?}: label name {key:?} is not valid"
            ));
        }
        labels.push((key.to_owned(), value.trim().to_owned()));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffix_and_labels() {
        let parsed = parse_app_name("shop-api.cpu{env=prod, region=eu-north}").unwrap();
        assert_eq!(parsed.service_name, "shop-api");
        assert_eq!(parsed.profile.as_deref(), Some("cpu"));
        assert_eq!(
            parsed.labels,
            vec![
                ("env".into(), "prod".into()),
                ("region".into(), "eu-north".into())
            ]
        );
    }

    #[test]
    fn keeps_dotted_names_without_a_known_suffix() {
        let parsed = parse_app_name("com.example.app").unwrap();
        assert_eq!(parsed.service_name, "com.example.app");
        assert_eq!(parsed.profile, None);
    }

    #[test]
    fn service_name_label_wins() {
        let parsed = parse_app_name("x.wall{service_name=checkout}").unwrap();
        assert_eq!(parsed.service_name, "checkout");
        assert!(parsed.labels.is_empty());
    }

    #[test]
    fn rejects_broken_names() {
        assert!(
            parse_app_name("app{env=prod")
                .unwrap_err()
                .contains("must end")
        );
        assert!(
            parse_app_name("app{env}")
                .unwrap_err()
                .contains("key=value")
        );
        assert!(
            parse_app_name("{env=prod}")
                .unwrap_err()
                .contains("missing")
        );
    }
}
