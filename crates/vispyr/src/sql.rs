//! `vispyr sql "<query>" [--server URL]`.

use anyhow::{Context, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

/// Flags of `vispyr sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The SQL query.
    query: String,
    /// Base URL of the server's HTTP API.
    #[arg(long, env = "VISPYR_SERVER", default_value = "http://127.0.0.1:4040")]
    server: String,
    /// Print the raw JSON response instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(query(args))
}

async fn query(args: SqlArgs) -> anyhow::Result<()> {
    let url = format!("{}/api/v1/sql", args.server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .json(&serde_json::json!({ "sql": args.query }))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
    if !status.is_success() {
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        bail!("query failed ({status}): {message}");
    }
    if args.json {
        println!("{body}");
        return Ok(());
    }
    println!("{}", render_table(&body));
    Ok(())
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Renders an `/api/v1/sql` response as a text table followed by a row count.
fn render_table(body: &Value) -> String {
    let columns: Vec<String> = body["columns"]
        .as_array()
        .map(|columns| columns.iter().map(cell).collect())
        .unwrap_or_default();
    let rows = body["rows"].as_array().cloned().unwrap_or_default();
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(columns);
    for row in &rows {
        let cells: Vec<String> = row
            .as_array()
            .map(|r| r.iter().map(cell).collect())
            .unwrap_or_default();
        table.add_row(cells);
    }
    let truncated = body["truncated"].as_bool().unwrap_or(false);
    let suffix = if truncated { " (truncated)" } else { "" };
    format!("{table}\n{} rows{suffix}", rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_columns_rows_and_count() {
        let body = serde_json::json!({
            "columns": ["service_name", "n"],
            "rows": [["api", 3], ["db", null]],
            "truncated": true
        });
        let text = render_table(&body);
        assert!(text.contains("service_name"));
        assert!(text.contains("api"));
        assert!(text.ends_with("2 rows (truncated)"), "{text}");
    }
}
