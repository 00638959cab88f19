//! Vocabulary shared by every profile format: a symbolized [`Frame`] and the
//! Pyroscope [`ProfileType`] id every ingested profile is normalised to.

use std::fmt;

/// One symbolized frame of a stack. Stacks are stored and passed root first.
///
/// Empty strings mean "unknown"; `line` is 0 when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    /// Function (or method) name as the profiler reported it, e.g. `handler`,
    /// `java.util.HashMap.get`, `runtime.mallocgc`.
    pub function: String,
    /// Source file or module path, e.g. `file:///srv/app/src/a.js`,
    /// `/usr/lib/python3.11/json/decoder.py`.
    pub file: String,
    /// Line number within `file`, 0 when unknown.
    pub line: i64,
    /// Binary or mapping the code lives in, e.g. `/usr/bin/node`, `libc.so.6`.
    pub mapping: String,
}

impl Frame {
    /// A frame that only has a function name (folded stacks, most SDKs).
    pub fn named(function: impl Into<String>) -> Frame {
        Frame {
            function: function.into(),
            ..Frame::default()
        }
    }
}

/// A Pyroscope profile type id: `name:sample_type:sample_unit:period_type:period_unit`,
/// e.g. `process_cpu:cpu:nanoseconds:cpu:nanoseconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileType {
    pub name: String,
    pub sample_type: String,
    pub sample_unit: String,
    pub period_type: String,
    pub period_unit: String,
}

impl ProfileType {
    pub fn new(
        name: &str,
        sample_type: &str,
        sample_unit: &str,
        period_type: &str,
        period_unit: &str,
    ) -> Self {
        ProfileType {
            name: name.to_owned(),
            sample_type: sample_type.to_owned(),
            sample_unit: sample_unit.to_owned(),
            period_type: period_type.to_owned(),
            period_unit: period_unit.to_owned(),
        }
    }

    /// Parses `name:sample_type:sample_unit:period_type:period_unit`.
    pub fn parse(id: &str) -> Option<ProfileType> {
        let mut parts = id.split(':');
        let parsed = ProfileType::new(
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if parts.next().is_some() || parsed.name.is_empty() || parsed.sample_type.is_empty() {
            return None;
        }
        Some(parsed)
    }

    /// The id as stored in the `profile_type` column.
    pub fn id(&self) -> String {
        self.to_string()
    }

    /// True for types whose values are a snapshot (heap in-use), which are averaged
    /// rather than summed over time.
    pub fn is_gauge(&self) -> bool {
        self.sample_type.starts_with("inuse")
    }
}

impl fmt::Display for ProfileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}:{}",
            self.name, self.sample_type, self.sample_unit, self.period_type, self.period_unit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_type_round_trips() {
        let id = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
        let parsed = ProfileType::parse(id).unwrap();
        assert_eq!(parsed.name, "process_cpu");
        assert_eq!(parsed.id(), id);
        assert!(ProfileType::parse("cpu:samples").is_none());
        assert!(ProfileType::parse("a:b:c:d:e:f").is_none());
        assert!(
            ProfileType::parse("memory:inuse_space:bytes:space:bytes")
                .unwrap()
                .is_gauge()
        );
    }
}
