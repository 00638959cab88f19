//! `vispyr`: the one binary. `vispyr serve` runs everything in one process with the
//! embedded store; `vispyr sql` queries a running server.

mod agent;
mod init;
mod serve;
mod sql;

use clap::{Parser, Subcommand};

// Ingest allocates and frees many small buffers per span; mimalloc halves the time
// glibc's allocator spends on them and returns freed memory to the OS sooner.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "vispyr",
    version,
    about = "Traces, metrics, logs and profiles in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: OTLP receivers, storage, query API.
    Serve(serve::ServeArgs),
    /// Run a SQL query against a server and print the result.
    Sql(sql::SqlArgs),
    /// Run the host agent: host metrics and the apps' telemetry, forwarded to a server.
    Agent(Box<agent::AgentArgs>),
    /// Print (or --write) the instrumentation that sends an app's telemetry here.
    Init(init::InitArgs),
}

/// Logs to stderr; `RUST_LOG` chooses the level (default `info`).
fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Agent(args) => agent::run(*args),
        Command::Init(args) => init::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole context chain on one line, without a backtrace.
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
