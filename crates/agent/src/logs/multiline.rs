//! Joins the lines of one record — a message and the stack trace printed
//! after it — so a Java, Node.js or Python exception arrives as one log
//! record instead of thirty.
//!
//! ```text
//! ERROR:root:request failed                  ← starts a record
//! Traceback (most recent call last):         ← Python traceback: joined
//!   File "app.py", line 3, in handle         ← indented: joined
//! ValueError: bad input                      ← ends the traceback: joined
//! java.lang.IllegalStateException: boom      ← starts a record
//!         at com.example.App.run(App.java:7) ← `at`: joined
//! Caused by: java.io.IOException: disk       ← `Caused by:`: joined
//!         ... 3 more                         ← joined
//! ```

use std::time::{Duration, Instant};

use regex::Regex;

/// Which lines start a new record (`--logs-multiline-start`).
#[derive(Debug, Clone, Default)]
pub enum StartRule {
    /// Every line starts a record except the continuation lines of Java,
    /// Node.js and Python stack traces: indented lines, `at …`, `Caused by:`,
    /// `Suppressed:`, `...`, and a Python traceback from its `Traceback`
    /// line through the exception line that ends it.
    #[default]
    StackTraces,
    /// Lines matching the regex start a record; all others continue one.
    Regex(Regex),
}

/// One line read from a file, with its byte range there.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub text: String,
    /// Offset of the line's first byte.
    pub start: u64,
    /// Offset just past its newline.
    pub end: u64,
}

/// Lines joined into one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    pub first: String,
    /// The further lines joined with `\n` (empty for a one-line record);
    /// trailing blank lines are dropped.
    pub continuation: String,
    pub start: u64,
    /// Offset just past the record's last line: where reading resumes once
    /// the record has been sent.
    pub end: u64,
}

/// A record past this size is cut: the next line starts a new one, so one
/// runaway writer cannot hold unbounded memory.
const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The first line of a Python traceback.
const TRACEBACK: &str = "Traceback (most recent call last)";

/// Joins the lines of one file.
#[derive(Debug)]
pub struct Joiner {
    rule: StartRule,
    pending: Option<Pending>,
    /// Inside a Python traceback, whose exception line (`ValueError: …`) is
    /// not indented but still belongs to it.
    in_traceback: bool,
}

#[derive(Debug)]
struct Pending {
    record: Joined,
    last_line_at: Instant,
}

impl Joiner {
    pub fn new(rule: StartRule) -> Joiner {
        Joiner {
            rule,
            pending: None,
            in_traceback: false,
        }
    }

    /// Adds the next line; returns the record it completed, if any.
    pub fn push(&mut self, line: Line, now: Instant) -> Option<Joined> {
        let blank = line.text.trim().is_empty();
        let pending_size = self.pending.as_ref().map(Pending::size);
        let continues = match pending_size {
            None => false,
            Some(size) if size >= MAX_RECORD_BYTES => false,
            // Blank lines separate the parts of a chained Python traceback.
            Some(_) if blank => true,
            Some(_) => !self.starts_record(&line.text),
        };
        if continues && let Some(pending) = self.pending.as_mut() {
            // Every continuation line is preceded by `\n`; `flush` drops the
            // first one.
            pending.record.continuation.push('\n');
            pending.record.continuation.push_str(&line.text);
            pending.record.end = line.end;
            pending.last_line_at = now;
            return None;
        }
        let completed = self.flush();
        if blank {
            // A blank line on its own is no record; it is only skipped over.
            return completed;
        }
        self.in_traceback =
            matches!(self.rule, StartRule::StackTraces) && line.text.starts_with(TRACEBACK);
        self.pending = Some(Pending {
            record: Joined {
                first: line.text,
                continuation: String::new(),
                start: line.start,
                end: line.end,
            },
            last_line_at: now,
        });
        completed
    }

    /// The pending record if no line has come for `idle`: the last record of
    /// a file has no next line to end it.
    pub fn flush_idle(&mut self, now: Instant, idle: Duration) -> Option<Joined> {
        let pending = self.pending.as_ref()?;
        if now.saturating_duration_since(pending.last_line_at) < idle {
            return None;
        }
        self.flush()
    }

    /// The pending record, whatever its age.
    pub fn flush(&mut self) -> Option<Joined> {
        let mut record = self.pending.take()?.record;
        self.in_traceback = false;
        let kept = record.continuation.trim_end().len();
        record.continuation.truncate(kept);
        if record.continuation.starts_with('\n') {
            record.continuation.remove(0);
        }
        Some(record)
    }

    fn starts_record(&mut self, text: &str) -> bool {
        match &self.rule {
            StartRule::Regex(regex) => regex.is_match(text),
            StartRule::StackTraces => !self.continues_stack_trace(text),
        }
    }

    /// The default rule, keeping track of Python tracebacks.
    fn continues_stack_trace(&mut self, text: &str) -> bool {
        if text.starts_with([' ', '\t']) {
            return true;
        }
        if text.starts_with(TRACEBACK) {
            self.in_traceback = true;
            return true;
        }
        if text.starts_with("During handling of the above exception")
            || text.starts_with("The above exception was the direct cause")
        {
            return true;
        }
        if self.in_traceback {
            // `ValueError: bad input` ends the traceback.
            self.in_traceback = false;
            return true;
        }
        text.starts_with("at ")
            || text.starts_with("Caused by:")
            || text.starts_with("Suppressed:")
            || text.starts_with("...")
    }
}

impl Pending {
    fn size(&self) -> usize {
        self.record.first.len() + self.record.continuation.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` line by line and flushes at the end.
    fn join(rule: StartRule, text: &str) -> Vec<Joined> {
        let mut joiner = Joiner::new(rule);
        let now = Instant::now();
        let mut offset = 0u64;
        let mut records = Vec::new();
        for line in text.split_inclusive('\n') {
            let end = offset + line.len() as u64;
            let line = Line {
                text: line.trim_end_matches('\n').to_string(),
                start: offset,
                end,
            };
            records.extend(joiner.push(line, now));
            offset = end;
        }
        records.extend(joiner.flush());
        records
    }

    #[test]
    fn java_stack_trace_joins_onto_its_exception_line() {
        let text = "2024-05-01 12:00:00 INFO starting\n\
java.lang.IllegalStateException: boom\n\
\tat com.example.App.run(App.java:7)\n\
\tat com.example.App.main(App.java:3)\n\
Caused by: java.io.IOException: disk full\n\
\tat com.example.Disk.write(Disk.java:12)\n\
\t... 2 more\n\
2024-05-01 12:00:01 INFO next\n";
        let records = join(StartRule::default(), text);
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].first, "2024-05-01 12:00:00 INFO starting");
        assert_eq!(records[1].first, "java.lang.IllegalStateException: boom");
        assert_eq!(
            records[1].continuation,
            "\tat com.example.App.run(App.java:7)\n\tat com.example.App.main(App.java:3)\n\
Caused by: java.io.IOException: disk full\n\tat com.example.Disk.write(Disk.java:12)\n\t... 2 more"
        );
        assert_eq!(records[2].first, "2024-05-01 12:00:01 INFO next");
        // Byte ranges cover the file without gaps.
        assert_eq!(records[0].start, 0);
        assert_eq!(records[1].start, records[0].end);
        assert_eq!(records[2].start, records[1].end);
        assert_eq!(records[2].end, text.len() as u64);
    }

    #[test]
    fn node_stack_trace_joins() {
        let text = "{\"level\":50,\"msg\":\"unhandled\"}\n\
TypeError: Cannot read properties of undefined (reading 'id')\n\
    at handler (/app/server.js:42:17)\n\
    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)\n\
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n\
{\"level\":30,\"msg\":\"ok\"}\n";
        let records = join(StartRule::default(), text);
        assert_eq!(records.len(), 3);
        assert!(records[1].first.starts_with("TypeError:"));
        assert_eq!(records[1].continuation.lines().count(), 3);
        assert!(records[1].continuation.ends_with("task_queues:95:5)"));
        assert_eq!(records[2].first, "{\"level\":30,\"msg\":\"ok\"}");
    }

    #[test]
    fn python_traceback_joins_onto_the_log_line_before_it() {
        let text = [
            "ERROR:root:request failed",
            "Traceback (most recent call last):",
            "  File \"app.py\", line 3, in handle",
            "    parse(body)",
            "ValueError: bad input",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            "  File \"app.py\", line 5, in handle",
            "KeyError: 'id'",
            "INFO:root:next request",
            "",
            "",
        ]
        .join("\n");
        let text = text.as_str();
        let records = join(StartRule::default(), text);
        assert_eq!(records.len(), 2, "{records:#?}");
        assert!(
            records[0]
                .continuation
                .contains("\n  File \"app.py\", line 3")
        );
        assert_eq!(records[0].first, "ERROR:root:request failed");
        assert!(
            records[0]
                .continuation
                .starts_with("Traceback (most recent call last):\n")
        );
        assert!(
            records[0]
                .continuation
                .contains("ValueError: bad input\n\nDuring handling")
        );
        assert!(records[0].continuation.ends_with("KeyError: 'id'"));
        assert_eq!(records[1].first, "INFO:root:next request");
        assert_eq!(records[1].continuation, "", "trailing blank lines dropped");
        assert_eq!(records[1].end, text.len() as u64);
    }

    #[test]
    fn a_traceback_without_a_log_line_is_its_own_record() {
        let text = "Traceback (most recent call last):\n  File \"x.py\", line 1\nZeroDivisionError: division by zero\nnext\n";
        let records = join(StartRule::default(), text);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].first, "Traceback (most recent call last):");
        assert!(
            records[0]
                .continuation
                .ends_with("ZeroDivisionError: division by zero")
        );
        assert_eq!(records[1].first, "next");
    }

    #[test]
    fn custom_start_regex() {
        let rule = StartRule::Regex(Regex::new(r"^\d{4}-\d{2}-\d{2}").unwrap());
        let text = "2024-05-01 one\nmore of one\nand more\n2024-05-02 two\n";
        let records = join(rule, text);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].continuation, "more of one\nand more");
        assert_eq!(records[1].first, "2024-05-02 two");
    }

    #[test]
    fn idle_flush_releases_the_last_record() {
        let mut joiner = Joiner::new(StartRule::default());
        let start = Instant::now();
        let line = |text: &str| Line {
            text: text.to_string(),
            start: 0,
            end: 1,
        };
        assert_eq!(joiner.push(line("Error: boom"), start), None);
        assert_eq!(joiner.push(line("    at f"), start), None);
        let idle = Duration::from_secs(1);
        assert_eq!(
            joiner.flush_idle(start + Duration::from_millis(500), idle),
            None
        );
        let record = joiner.flush_idle(start + idle, idle).unwrap();
        assert_eq!(record.continuation, "    at f");
        assert_eq!(joiner.flush(), None, "nothing left");
    }

    #[test]
    fn leading_blank_lines_and_a_continuation_without_a_start() {
        let records = join(StartRule::default(), "\n\n    at orphan\nnext\n");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].first, "    at orphan");
        assert_eq!(records[0].start, 2);
        assert_eq!(records[1].first, "next");
    }

    #[test]
    fn runaway_records_are_cut() {
        let mut text = String::from("start\n");
        let frame = format!("    at {}\n", "x".repeat(1000));
        for _ in 0..2000 {
            text.push_str(&frame);
        }
        let records = join(StartRule::default(), &text);
        assert!(records.len() >= 2);
        assert!(
            records
                .iter()
                .all(|r| r.continuation.len() <= MAX_RECORD_BYTES + 1100)
        );
        assert_eq!(records.last().unwrap().end, text.len() as u64);
    }
}
