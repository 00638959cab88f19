//! Collapsed stacks: `format=folded` (`root;child;leaf 42` per line) and
//! `format=lines` (`root;child;leaf` per line, one sample each).

use std::collections::HashMap;

use vispyr_common::profile::Frame;

use super::pprof::MAX_STACK_DEPTH;

/// Stacks (root first) with their summed values.
pub type FoldedStacks = Vec<(Vec<Frame>, i64)>;

/// Parses folded text. `with_counts` is false for the `lines` format.
pub fn parse(body: &[u8], with_counts: bool) -> Result<FoldedStacks, String> {
    let text = std::str::from_utf8(body)
        .map_err(|error| format!("collapsed stacks are not UTF-8: {error}"))?;
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut out: FoldedStacks = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (stack, value) = if with_counts {
            let Some((stack, count)) = line.rsplit_once(' ') else {
                return Err(format!(
                    "line {}: expected \"frame;frame;... <count>\", got {:?}",
                    number + 1,
                    truncate(line)
                ));
            };
            let value: i64 = count.trim().parse().map_err(|_| {
                format!(
                    "line {}: count {:?} is not an integer",
                    number + 1,
                    truncate(count)
                )
            })?;
            (stack, value)
        } else {
            (line, 1)
        };
        if value < 0 {
            return Err(format!("line {}: negative count {value}", number + 1));
        }
        match index.get(stack) {
            Some(&at) => out[at].1 = out[at].1.saturating_add(value),
            None => {
                let frames: Vec<Frame> = stack.split(';').map(parse_frame).collect();
                if frames.len() > MAX_STACK_DEPTH {
                    return Err(format!(
                        "line {}: stack deeper than {MAX_STACK_DEPTH} frames",
                        number + 1
                    ));
                }
                index.insert(stack, out.len());
                out.push((frames, value));
            }
        }
    }
    Ok(out)
}

fn truncate(text: &str) -> &str {
    let end = text.char_indices().nth(80).map_or(text.len(), |(at, _)| at);
    &text[..end]
}

/// Splits py-spy / rbspy style frames `name (path/file.py:12)` into function, file
/// and line; anything else is a bare function name.
fn parse_frame(frame: &str) -> Frame {
    let frame = frame.trim();
    if let Some(open) = frame.rfind(" (")
        && let Some(location) = frame[open + 2..].strip_suffix(')')
    {
        let function = &frame[..open];
        let (file, line) = match location.rsplit_once(':') {
            Some((file, line)) if line.parse::<i64>().is_ok() => (file, line.parse().unwrap_or(0)),
            _ => (location, 0),
        };
        return Frame {
            function: function.to_owned(),
            file: file.to_owned(),
            line,
            mapping: String::new(),
        };
    }
    Frame::named(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_equal_stacks_and_splits_python_frames() {
        let body = b"<module> (app.py:30);burn_cpu_hot (app.py:12) 90\nmain;idle 10\n<module> (app.py:30);burn_cpu_hot (app.py:12) 5\n";
        let stacks = parse(body, true).unwrap();
        assert_eq!(stacks.len(), 2);
        assert_eq!(stacks[0].1, 95);
        assert_eq!(stacks[0].0[1].function, "burn_cpu_hot");
        assert_eq!(stacks[0].0[1].file, "app.py");
        assert_eq!(stacks[0].0[1].line, 12);
        assert_eq!(stacks[1].0[0], Frame::named("main"));
    }

    #[test]
    fn lines_count_one_each() {
        let stacks = parse(b"a;b\na;b\na;c\n", false).unwrap();
        assert_eq!(
            stacks,
            vec![
                (vec![Frame::named("a"), Frame::named("b")], 2),
                (vec![Frame::named("a"), Frame::named("c")], 1),
            ]
        );
    }

    #[test]
    fn bad_lines_name_the_line() {
        assert!(
            parse(b"a;b 1\na;b x\n", true)
                .unwrap_err()
                .starts_with("line 2")
        );
        assert!(parse(b"a;b\n", true).unwrap_err().contains("expected"));
        assert!(parse(&[0xff, 0xfe], true).unwrap_err().contains("UTF-8"));
        let deep = format!("{} 1\n", vec!["f"; MAX_STACK_DEPTH + 1].join(";"));
        assert!(parse(deep.as_bytes(), true).unwrap_err().contains("deeper"));
    }
}
