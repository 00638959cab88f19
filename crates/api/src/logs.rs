//! Native log API under `/api/v1/logs`: search with a cursor, a volume histogram
//! by level, and a live tail over Server-Sent Events — all with one set of filter
//! parameters:
//!
//! | parameter | meaning |
//! |---|---|
//! | `start`, `end` (or `from`, `until`) | time range; default the last hour (all time when `trace_id` is given) |
//! | `service` | repeatable; any of them |
//! | `level` | minimum severity: a name (`warn`) or an OTLP number (13) |
//! | `q`, `match` | body text; `match` is `icontains` (default), `contains`, `words` (whole words, uses the text index) or `regex` |
//! | `attr` | repeatable `name=value`, `name!=value`, `name=~regex`, `name!~regex` on log or resource attributes |
//! | `trace_id`, `span_id` | hex ids |
//! | `limit`, `cursor` | search paging: newest first, `next_cursor` resumes |
//! | `interval` | volume bucket width (default: range / 100, at least 1 s) |

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use vispyr_common::Signal;
use vispyr_model::severity_number_of;
use vispyr_promql::MatchOp;
use vispyr_query::logs::{AttributeFilter, Cursor, LiveFilter, LogFilter, TextMatch};

use crate::params::{QueryPairs, parse_duration, time_range};
use crate::{ApiError, ApiState};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 5_000;
/// Intervals a volume query aims for when none is given.
const DEFAULT_INTERVALS: i64 = 100;

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/logs/search", get(search))
        .route("/api/v1/logs/volume", get(volume))
        .route("/api/v1/logs/tail", get(tail))
}

/// Parses `name=value`, `name!=value`, `name=~re` or `name!~re`.
fn attribute_filter(text: &str) -> Result<AttributeFilter, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "invalid attr={text:?}: use name=value, name!=value, name=~regex or name!~regex"
        ))
    };
    let split = text.find(['=', '!']).ok_or_else(bad)?;
    let (name, rest) = text.split_at(split);
    let (op, value) = if let Some(value) = rest.strip_prefix("=~") {
        (MatchOp::Regex, value)
    } else if let Some(value) = rest.strip_prefix("!~") {
        (MatchOp::NotRegex, value)
    } else if let Some(value) = rest.strip_prefix("!=") {
        (MatchOp::NotEqual, value)
    } else if let Some(value) = rest.strip_prefix('=') {
        (MatchOp::Equal, value)
    } else {
        return Err(bad());
    };
    if name.is_empty() {
        return Err(bad());
    }
    Ok(AttributeFilter {
        name: name.to_string(),
        op,
        value: value.to_string(),
    })
}

fn min_severity(text: &str) -> Result<i32, ApiError> {
    if let Ok(number) = text.parse::<i32>()
        && (1..=24).contains(&number)
    {
        return Ok(number);
    }
    severity_number_of(text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "invalid level={text:?}: use trace, debug, info, warn, error, fatal or 1-24"
        ))
    })
}

/// The filter the parameters describe; `all_time` ignores the time parameters
/// (live tail).
fn filter_of(pairs: &QueryPairs, all_time: bool) -> Result<LogFilter, ApiError> {
    let get = |name: &str| pairs.get(name);
    let trace_id = get("trace_id").map(str::to_owned);
    let (start_ns, end_ns) = if all_time {
        (0, i64::MAX)
    } else {
        let start = get("start").or(get("from"));
        let end = get("end").or(get("until"));
        let (from, until) = time_range(start, end)?;
        if start.is_none() && trace_id.is_some() {
            (0, until)
        } else {
            (from, until)
        }
    };
    let text = match get("q") {
        None => None,
        Some(q) => Some(match get("match").unwrap_or("icontains") {
            "icontains" => TextMatch::ContainsIgnoreCase(q.to_string()),
            "contains" => TextMatch::Contains(q.to_string()),
            "words" => TextMatch::Words(q.to_string()),
            "regex" => TextMatch::Regex(q.to_string()),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "invalid match={other:?}: use icontains, contains, words or regex"
                )));
            }
        }),
    };
    Ok(LogFilter {
        start_ns,
        end_ns,
        services: pairs
            .all("service")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        min_severity: get("level").map(min_severity).transpose()?,
        text,
        attributes: pairs
            .all("attr")
            .map(attribute_filter)
            .collect::<Result<_, _>>()?,
        trace_id,
        span_id: get("span_id").map(str::to_owned),
    })
}

async fn search(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let pairs = QueryPairs::from_query(raw.as_deref());
    let filter = filter_of(&pairs, false)?;
    let limit = match pairs.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("invalid limit={text:?}: use 1 to {MAX_LIMIT}"))
            })?,
    };
    let cursor = pairs.get("cursor").map(Cursor::decode).transpose()?;
    let page = state.logs.search(&filter, limit, cursor).await?;
    Ok(Json(json!(page)))
}

async fn volume(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let pairs = QueryPairs::from_query(raw.as_deref());
    let filter = filter_of(&pairs, false)?;
    let interval = match pairs.get("interval") {
        Some(text) => parse_duration(text, "interval")?,
        None => {
            let range = filter.end_ns - filter.start_ns;
            (range / DEFAULT_INTERVALS).max(1_000_000_000) / 1_000_000_000 * 1_000_000_000
        }
    };
    let volume = state.logs.volume(&filter, interval).await?;
    Ok(Json(json!(volume)))
}

/// `GET /api/v1/logs/tail`: every record written from now on that matches the
/// filter, as `log` events (one JSON record each), oldest first per write.
async fn tail(
    State(state): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let pairs = QueryPairs::from_query(raw.as_deref());
    let live_filter = LiveFilter::new(&filter_of(&pairs, true)?)?;
    let mut live = state.query.storage().subscribe();
    let stream = async_stream_of(move |sender| async move {
        // A first comment gets the response under way at once, so clients
        // (EventSource's `open`) know the tail is live before any line arrives.
        if sender
            .send(Event::default().comment("tailing"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let batch = match live.recv().await {
                Ok((Signal::Logs, batch)) => batch,
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    let event = Event::default()
                        .event("lagged")
                        .data(json!({ "missed_writes": missed }).to_string());
                    if sender.send(event).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let records = match live_filter.matching(batch).await {
                Ok(records) => records,
                Err(error) => {
                    tracing::warn!(%error, "live tail filter failed");
                    continue;
                }
            };
            for record in records {
                let event = Event::default()
                    .event("log")
                    .data(json!(record).to_string());
                if sender.send(event).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

/// A stream fed by a task that sends into a channel; the task ends when the
/// client goes away (the receiver is dropped).
fn async_stream_of<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(256);
    tokio::spawn(produce(sender));
    futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(receiver), Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_filters_parse_every_operator() {
        let f = attribute_filter("http.route=/a=b").unwrap();
        assert_eq!(
            (f.name.as_str(), f.op, f.value.as_str()),
            ("http.route", MatchOp::Equal, "/a=b")
        );
        assert_eq!(attribute_filter("a!=b").unwrap().op, MatchOp::NotEqual);
        assert_eq!(attribute_filter("a=~b.*").unwrap().op, MatchOp::Regex);
        assert_eq!(attribute_filter("a!~b").unwrap().op, MatchOp::NotRegex);
        assert!(attribute_filter("novalue").is_err());
        assert!(attribute_filter("=x").is_err());
        assert!(attribute_filter("a!b").is_err());
    }

    #[test]
    fn levels_by_name_or_number() {
        assert_eq!(min_severity("warn").unwrap(), 13);
        assert_eq!(min_severity("17").unwrap(), 17);
        assert!(min_severity("99").is_err());
        assert!(min_severity("loud").is_err());
    }
}
