//! `vispyr init <language>`: the instrumentation that sends an app's traces,
//! metrics, logs and profiles to a Vispyr server, and how to install and start it.
//!
//! ```text
//! vispyr init node --service shop --server http://vispyr:4040
//!   │ templates in src/init/<language>/ (include_str!), {{SERVICE}}, {{SERVER}},
//!   │ {{OTLP}} and {{DIR}} substituted
//!   ├─ no --write:    every file, then the instructions, on stdout
//!   └─ --write DIR:   the files into DIR (never over existing ones without
//!                     --force), then the instructions
//! ```
//!
//! Each language uses its ecosystem's standard pieces: the OpenTelemetry SDK with
//! auto-instrumentation where there is one and a bridge from the usual logging
//! library, OTLP/HTTP protobuf exporters, the Pyroscope SDK pointed at Vispyr's
//! `/ingest`, and Pyroscope's OpenTelemetry integration (span-profile linking)
//! where the language has one. The Node.js and Python outputs are run against a
//! live server by `tests/init_e2e.rs`; the others are only rendered in tests.
//!
//! Owns: the templates and their rendering. Does not own: any network access —
//! nothing here talks to the server.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use reqwest::Url;

/// Flags of `vispyr init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The app's language: node, python, go, java, ruby, dotnet or rust.
    language: String,
    /// The service name the app reports [default: the current directory's name].
    #[arg(long)]
    service: Option<String>,
    /// The Vispyr server's HTTP address, where profiles go.
    #[arg(long, env = "VISPYR_SERVER", default_value = "http://localhost:4040")]
    server: String,
    /// The server's OTLP/HTTP address [default: port 4318 on the --server host].
    #[arg(long)]
    otlp: Option<String>,
    /// Write the files into DIR (created if missing) instead of printing them.
    #[arg(long, value_name = "DIR")]
    write: Option<PathBuf>,
    /// With --write: overwrite files that already exist.
    #[arg(long, requires = "write")]
    force: bool,
}

/// The languages `vispyr init` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Node,
    Python,
    Go,
    Java,
    Ruby,
    Dotnet,
    Rust,
}

/// One generated file: its name and its template.
struct Template {
    name: &'static str,
    text: &'static str,
    /// A script the user runs, written with the executable bit.
    executable: bool,
}

const fn file(name: &'static str, text: &'static str) -> Template {
    Template {
        name,
        text,
        executable: false,
    }
}

const fn script(name: &'static str, text: &'static str) -> Template {
    Template {
        name,
        text,
        executable: true,
    }
}

const NODE: &[Template] = &[file(
    "instrumentation.js",
    include_str!("init/node/instrumentation.js"),
)];
const PYTHON: &[Template] = &[file(
    "vispyr_instrumentation.py",
    include_str!("init/python/vispyr_instrumentation.py"),
)];
const GO: &[Template] = &[file("telemetry.go", include_str!("init/go/telemetry.go"))];
const JAVA: &[Template] = &[script(
    "vispyr-java.sh",
    include_str!("init/java/vispyr-java.sh"),
)];
const RUBY: &[Template] = &[file(
    "vispyr_instrumentation.rb",
    include_str!("init/ruby/vispyr_instrumentation.rb"),
)];
const DOTNET: &[Template] = &[
    file(
        "VispyrTelemetry.cs",
        include_str!("init/dotnet/VispyrTelemetry.cs"),
    ),
    script(
        "vispyr-dotnet.sh",
        include_str!("init/dotnet/vispyr-dotnet.sh"),
    ),
];
const RUST: &[Template] = &[file("telemetry.rs", include_str!("init/rust/telemetry.rs"))];

impl Language {
    /// Every language, in the order the help and errors list them.
    pub const ALL: [Language; 7] = [
        Language::Node,
        Language::Python,
        Language::Go,
        Language::Java,
        Language::Ruby,
        Language::Dotnet,
        Language::Rust,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Language::Node => "node",
            Language::Python => "python",
            Language::Go => "go",
            Language::Java => "java",
            Language::Ruby => "ruby",
            Language::Dotnet => "dotnet",
            Language::Rust => "rust",
        }
    }

    /// Other spellings people type.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Language::Node => &["nodejs", "node.js", "js", "javascript", "typescript", "ts"],
            Language::Python => &["py", "python3"],
            Language::Go => &["golang"],
            Language::Java => &["jvm", "kotlin"],
            Language::Ruby => &["rb", "rails"],
            Language::Dotnet => &[".net", "net", "csharp", "c#"],
            Language::Rust => &["rs"],
        }
    }

    /// Parses a language name or alias, ignoring case.
    pub fn parse(text: &str) -> anyhow::Result<Language> {
        let wanted = text.trim().to_ascii_lowercase();
        for language in Language::ALL {
            if language.name() == wanted || language.aliases().contains(&wanted.as_str()) {
                return Ok(language);
            }
        }
        let supported: Vec<&str> = Language::ALL.iter().map(|l| l.name()).collect();
        bail!(
            "unknown language {text:?}; supported: {}",
            supported.join(", ")
        )
    }

    fn templates(self) -> &'static [Template] {
        match self {
            Language::Node => NODE,
            Language::Python => PYTHON,
            Language::Go => GO,
            Language::Java => JAVA,
            Language::Ruby => RUBY,
            Language::Dotnet => DOTNET,
            Language::Rust => RUST,
        }
    }

    fn instructions(self) -> &'static str {
        match self {
            Language::Node => include_str!("init/node/instructions.txt"),
            Language::Python => include_str!("init/python/instructions.txt"),
            Language::Go => include_str!("init/go/instructions.txt"),
            Language::Java => include_str!("init/java/instructions.txt"),
            Language::Ruby => include_str!("init/ruby/instructions.txt"),
            Language::Dotnet => include_str!("init/dotnet/instructions.txt"),
            Language::Rust => include_str!("init/rust/instructions.txt"),
        }
    }
}

/// The values substituted into the templates, validated so that each one is
/// safe inside the string literals of every template language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `service.name` and the Pyroscope application name.
    pub service: String,
    /// The server's HTTP base URL, no trailing slash.
    pub server: String,
    /// The OTLP/HTTP base URL, no trailing slash.
    pub otlp: String,
    /// Where the files are (`.` when printed), as the instructions show it.
    pub dir: String,
}

/// A generated file, ready to print or write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub name: &'static str,
    pub contents: String,
    pub executable: bool,
}

/// The files and instructions of one language with `settings` substituted.
pub fn render(language: Language, settings: &Settings) -> (Vec<RenderedFile>, String) {
    let files = language
        .templates()
        .iter()
        .map(|template| RenderedFile {
            name: template.name,
            contents: substitute(template.text, settings),
            executable: template.executable,
        })
        .collect();
    let instructions = substitute(language.instructions(), settings);
    (files, instructions)
}

fn substitute(template: &str, settings: &Settings) -> String {
    template
        .replace("{{SERVICE}}", &settings.service)
        .replace("{{SERVER}}", &settings.server)
        .replace("{{OTLP}}", &settings.otlp)
        .replace("{{DIR}}", &settings.dir)
}

pub fn run(args: InitArgs) -> anyhow::Result<()> {
    let output = execute(&args)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(output.as_bytes())
        .context("cannot write to stdout")?;
    Ok(())
}

/// Does everything `vispyr init` does except printing; returns what to print.
fn execute(args: &InitArgs) -> anyhow::Result<String> {
    let language = Language::parse(&args.language)?;
    let service = match &args.service {
        Some(service) => service.clone(),
        None => default_service(),
    };
    check_service(&service)?;
    let server = base_url("--server", &args.server)?;
    let otlp = match &args.otlp {
        Some(otlp) => base_url("--otlp", otlp)?,
        None => otlp_next_to(&server)?,
    };
    let dir = match &args.write {
        Some(dir) => shown_dir(dir)?,
        None => ".".to_string(),
    };
    let settings = Settings {
        service,
        server,
        otlp,
        dir,
    };
    let (files, instructions) = render(language, &settings);

    let mut output = String::new();
    match &args.write {
        Some(dir) => {
            for path in write_files(dir, &files, args.force)? {
                output.push_str(&format!("wrote {}\n", path.display()));
            }
            output.push('\n');
        }
        None => {
            for file in &files {
                output.push_str(&format!("==> {} <==\n{}", file.name, file.contents));
                if !file.contents.ends_with('\n') {
                    output.push('\n');
                }
                output.push('\n');
            }
            output.push_str("==> instructions <==\n");
            output.push_str(
                "Save the files above under their names in the app's folder \
                 (or run again with --write DIR).\n\n",
            );
        }
    }
    output.push_str(&instructions);
    Ok(output)
}

/// The current directory's name when it makes a valid service name, else `my-service`.
fn default_service() -> String {
    std::env::current_dir()
        .ok()
        .and_then(|dir| {
            dir.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .filter(|name| check_service(name).is_ok())
        .unwrap_or_else(|| "my-service".to_string())
}

/// Service names go into string literals of seven languages and shell scripts:
/// letters, digits, `.`, `_`, `-` and `/` are safe in all of them.
fn check_service(service: &str) -> anyhow::Result<()> {
    if service.is_empty() || service.len() > 128 {
        bail!("the service name must be 1 to 128 characters long");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    if let Some(bad) = service.chars().find(|&c| !allowed(c)) {
        bail!(
            "the service name {service:?} has {bad:?}; use letters, digits, '.', '_', '-' and '/'"
        );
    }
    Ok(())
}

/// An http(s) base URL without query, fragment or trailing slash.
fn base_url(flag: &str, text: &str) -> anyhow::Result<String> {
    let url = Url::parse(text.trim())
        .with_context(|| format!("{flag} {text:?} is not a URL (like http://localhost:4040)"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("{flag} {text:?} must be an http:// or https:// URL with a host");
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        bail!("{flag} {text:?} must not have credentials, a query or a fragment");
    }
    // `Url` percent-encodes quotes and spaces, so what remains is literal-safe;
    // reject the two characters that could still end a template string.
    let normalized = url.as_str().trim_end_matches('/').to_string();
    if normalized.contains(['\\', '$', '`']) {
        bail!("{flag} {text:?} has characters that cannot go into the generated code");
    }
    Ok(normalized)
}

/// The OTLP/HTTP URL on the server's host: Vispyr's default port 4318.
fn otlp_next_to(server: &str) -> anyhow::Result<String> {
    let mut url = Url::parse(server).context("invalid --server URL")?;
    url.set_port(Some(4318))
        .map_err(|()| anyhow::anyhow!("--server {server:?} cannot have a port"))?;
    url.set_path("");
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// `DIR` as the instructions show it: relative paths start with `./` so that
/// `node --require` and shells read them as paths.
fn shown_dir(dir: &Path) -> anyhow::Result<String> {
    let text = dir
        .to_str()
        .with_context(|| format!("--write {} is not valid UTF-8", dir.display()))?
        .trim_end_matches('/');
    if text.contains(['\n', '"', '\'', '`', '$', '\\']) {
        bail!("--write {text:?} has characters that cannot go into the instructions");
    }
    if text.is_empty() {
        return Ok("/".to_string());
    }
    if dir.is_absolute() || text == "." || text.starts_with("./") || text.starts_with("../") {
        return Ok(text.to_string());
    }
    Ok(format!("./{text}"))
}

/// Writes every file into `dir`; without `force`, refuses (writing nothing)
/// when any of them exists. Returns the paths written.
fn write_files(dir: &Path, files: &[RenderedFile], force: bool) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let paths: Vec<PathBuf> = files.iter().map(|file| dir.join(file.name)).collect();
    if !force {
        let existing: Vec<String> = paths
            .iter()
            .filter(|path| path.exists())
            .map(|path| path.display().to_string())
            .collect();
        if !existing.is_empty() {
            bail!(
                "{} already exists; nothing written (pass --force to overwrite)",
                existing.join(", ")
            );
        }
    }
    for (file, path) in files.iter().zip(&paths) {
        std::fs::write(path, &file.contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
        if file.executable {
            make_executable(path)?;
        }
    }
    Ok(paths)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            service: "checkout-api".to_string(),
            server: "https://vispyr.example:14040".to_string(),
            otlp: "https://otlp.example:14318".to_string(),
            dir: "./otel".to_string(),
        }
    }

    fn args(language: &str) -> InitArgs {
        InitArgs {
            language: language.to_string(),
            service: Some("checkout-api".to_string()),
            server: "http://vispyr.example:4040/".to_string(),
            otlp: None,
            write: None,
            force: false,
        }
    }

    /// What each language's output must name: its install commands' packages.
    fn expected_packages(language: Language) -> &'static [&'static str] {
        match language {
            Language::Node => &[
                "npm install",
                "@opentelemetry/sdk-node@^0.223.0",
                "@opentelemetry/auto-instrumentations-node@^0.81.2",
                "@opentelemetry/exporter-logs-otlp-proto@^0.223.0",
                "@pyroscope/nodejs@^0.6.4",
            ],
            Language::Python => &[
                "pip install",
                "opentelemetry-sdk>=1.45,<2",
                "opentelemetry-instrumentation-logging",
                "pyroscope-io>=1.4,<2",
                "pyroscope-otel>=1.1,<2",
                "opentelemetry-bootstrap -a install",
            ],
            Language::Go => &[
                "go get",
                "go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp",
                "go.opentelemetry.io/contrib/bridges/otelslog",
                "github.com/grafana/pyroscope-go",
                "github.com/grafana/otel-profiling-go",
            ],
            Language::Java => &["opentelemetry-javaagent", "pyroscope-otel.jar"],
            Language::Ruby => &[
                "bundle add",
                "opentelemetry-instrumentation-all",
                "opentelemetry-exporter-otlp-logs",
                "pyroscope-otel",
            ],
            Language::Dotnet => &[
                "dotnet add package OpenTelemetry.Extensions.Hosting",
                "OpenTelemetry.Exporter.OpenTelemetryProtocol",
                "Pyroscope.OpenTelemetry",
                "pyroscope-dotnet",
            ],
            Language::Rust => &[
                "cargo add",
                "opentelemetry-otlp@0.33",
                "tracing-opentelemetry@0.34",
                "opentelemetry-appender-tracing@0.33",
                "pyroscope@2",
            ],
        }
    }

    #[test]
    fn every_language_renders_with_the_settings_substituted() {
        let settings = settings();
        for language in Language::ALL {
            let (files, instructions) = render(language, &settings);
            assert!(!files.is_empty(), "{language:?}");
            let code: String = files.iter().map(|f| f.contents.as_str()).collect();
            for text in [&code, &instructions] {
                assert!(
                    !text.contains("{{"),
                    "{language:?}: placeholder left in\n{text}"
                );
            }
            assert!(code.contains("checkout-api"), "{language:?}: service");
            assert!(
                code.contains("https://vispyr.example:14040"),
                "{language:?}: server URL in the code"
            );
            // .NET's profiler takes the server URL in the script, the OTLP URL in C#.
            assert!(
                code.contains("https://otlp.example:14318"),
                "{language:?}: OTLP URL in the code"
            );
            assert!(instructions.contains("checkout-api"), "{language:?}");
            assert!(
                instructions.contains("https://otlp.example:14318"),
                "{language:?}"
            );
            assert!(
                instructions.contains("https://vispyr.example:14040"),
                "{language:?}"
            );
            for package in expected_packages(language) {
                assert!(
                    instructions.contains(package),
                    "{language:?}: instructions lack {package:?}"
                );
            }
            assert!(
                instructions.contains("Span-profile linking:"),
                "{language:?}: says whether spans and profiles are linked"
            );
        }
    }

    #[test]
    fn span_profile_linking_is_set_up_where_pyroscope_has_an_integration() {
        let settings = settings();
        let code = |language| {
            let (files, _) = render(language, &settings);
            files.into_iter().map(|f| f.contents).collect::<String>()
        };
        assert!(code(Language::Python).contains("PyroscopeSpanProcessor()"));
        assert!(code(Language::Go).contains("otelpyroscope.NewTracerProvider("));
        assert!(code(Language::Java).contains("OTEL_JAVAAGENT_EXTENSIONS"));
        assert!(code(Language::Ruby).contains("Pyroscope::Otel::SpanProcessor.new("));
        assert!(code(Language::Dotnet).contains("PyroscopeSpanProcessor()"));
        let (_, node) = render(Language::Node, &settings);
        assert!(node.contains("not available for Node.js"), "{node}");
    }

    #[test]
    fn language_names_and_aliases_parse_and_unknown_ones_list_the_supported() {
        assert_eq!(Language::parse("node").unwrap(), Language::Node);
        assert_eq!(Language::parse("NodeJS").unwrap(), Language::Node);
        assert_eq!(Language::parse("golang").unwrap(), Language::Go);
        assert_eq!(Language::parse("C#").unwrap(), Language::Dotnet);
        for language in Language::ALL {
            assert_eq!(Language::parse(language.name()).unwrap(), language);
        }
        let error = Language::parse("cobol").unwrap_err().to_string();
        assert_eq!(
            error,
            r#"unknown language "cobol"; supported: node, python, go, java, ruby, dotnet, rust"#
        );
        let error = execute(&args("php")).unwrap_err().to_string();
        assert!(error.contains("supported: node, python, go"), "{error}");
    }

    #[test]
    fn printing_shows_every_file_then_the_instructions() {
        let output = execute(&args("dotnet")).unwrap();
        let cs = output.find("==> VispyrTelemetry.cs <==").expect("C# file");
        let sh = output.find("==> vispyr-dotnet.sh <==").expect("script");
        let steps = output.find("==> instructions <==").expect("instructions");
        assert!(cs < sh && sh < steps, "{output}");
        // The OTLP default is port 4318 on the --server host; trailing slashes go.
        assert!(
            output.contains(r#": "http://vispyr.example:4318";"#),
            "{output}"
        );
        assert!(output.contains("http://vispyr.example:4040}"), "{output}");
        assert!(!output.contains("4040/"), "{output}");
        assert!(
            output.contains("./vispyr-dotnet.sh dotnet MyApp.dll"),
            "{output}"
        );
        assert!(output[steps..].contains("Save the files above"), "{output}");
    }

    #[test]
    fn an_explicit_otlp_url_wins() {
        let mut args = args("python");
        args.otlp = Some("http://collector.internal:14318/".to_string());
        let output = execute(&args).unwrap();
        assert!(
            output.contains(r#"or "http://collector.internal:14318")"#),
            "{output}"
        );
        assert!(!output.contains(":4318"), "{output}");
    }

    #[test]
    fn bad_service_names_and_urls_are_refused() {
        let mut quoted = args("node");
        quoted.service = Some("shop\"; rm -rf /".to_string());
        let error = execute(&quoted).unwrap_err().to_string();
        assert!(error.contains("service name"), "{error}");

        let mut ftp = args("node");
        ftp.server = "ftp://vispyr:4040".to_string();
        let error = execute(&ftp).unwrap_err().to_string();
        assert!(
            error.contains("--server") && error.contains("http://"),
            "{error}"
        );

        let mut garbage = args("node");
        garbage.otlp = Some("not a url".to_string());
        let error = execute(&garbage).unwrap_err().to_string();
        assert!(error.contains("--otlp"), "{error}");

        assert!(check_service("shop/frontend-2.v1_a").is_ok());
    }

    #[test]
    fn write_creates_the_directory_and_refuses_to_overwrite_without_force() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("otel");
        let mut write = args("java");
        write.write = Some(dir.clone());

        let output = execute(&write).unwrap();
        let script = dir.join("vispyr-java.sh");
        assert!(
            output.starts_with(&format!("wrote {}\n", script.display())),
            "{output}"
        );
        assert!(output.contains(&format!("{}/vispyr-java.sh -jar app.jar", dir.display())));
        assert!(
            !output.contains("==>"),
            "files are written, not printed: {output}"
        );
        let written = std::fs::read_to_string(&script).unwrap();
        assert!(written.contains("checkout-api"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&script).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "scripts are executable: {mode:o}");
        }

        std::fs::write(&script, "mine").unwrap();
        let error = execute(&write).unwrap_err().to_string();
        assert!(
            error.contains("already exists") && error.contains("--force"),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&script).unwrap(), "mine");

        write.force = true;
        execute(&write).unwrap();
        assert_eq!(std::fs::read_to_string(&script).unwrap(), written);
    }

    #[test]
    fn write_refuses_all_files_when_one_exists() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("vispyr-dotnet.sh"), "mine").unwrap();
        let mut write = args("dotnet");
        write.write = Some(temp.path().to_path_buf());
        let error = execute(&write).unwrap_err().to_string();
        assert!(error.contains("vispyr-dotnet.sh"), "{error}");
        assert!(
            !temp.path().join("VispyrTelemetry.cs").exists(),
            "nothing written when any file exists"
        );
    }

    #[test]
    fn relative_write_dirs_are_shown_as_paths() {
        assert_eq!(shown_dir(Path::new("otel")).unwrap(), "./otel");
        assert_eq!(shown_dir(Path::new("./otel/")).unwrap(), "./otel");
        assert_eq!(shown_dir(Path::new("../x")).unwrap(), "../x");
        assert_eq!(shown_dir(Path::new("/srv/app")).unwrap(), "/srv/app");
        assert!(shown_dir(Path::new("a$b")).is_err());
    }
}
