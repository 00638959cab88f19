//! Derives the package (npm package, Python distribution, gem, Go/Java/.NET
//! package or namespace, Rust crate) a frame belongs to.
//!
//! This is a heuristic over file paths and qualified names, first match wins:
//!
//! | source                                   | example                                          | package              |
//! |------------------------------------------|--------------------------------------------------|----------------------|
//! | file under `node_modules/` (innermost)   | `/app/node_modules/@nestjs/core/router.js`       | `@nestjs/core`       |
//! | file under `site-packages/`, `dist-packages/` | `/usr/lib/python3/site-packages/requests/api.py` | `requests`      |
//! | file under `gems/<name>-<version>/`      | `/bundle/gems/rack-2.2.8/lib/rack.rb`            | `rack`               |
//! | function with `::` (Rust, C++)           | `<alloc::vec::Vec<T> as Drop>::drop`             | `alloc`              |
//! | function with `/` (Go, JVM slash form)   | `net/http.(*conn).serve`                         | `net/http`           |
//! |                                          | `java/util/HashMap.get`                          | `java/util`          |
//! | dotted function, lowercase head (Go, Java) | `runtime.mallocgc`, `java.util.HashMap.get`    | `runtime`, `java.util` |
//! | dotted function, capitalised (.NET)      | `System.Threading.Tasks.Task.Run`                | `System.Threading.Tasks` |
//!
//! A .NET `Module!` prefix (`System.Private.CoreLib!System.String.Concat`) is
//! ignored. Anything else has no package (the empty string).

use vispyr_common::profile::Frame;

/// The package of `frame`, or `""` when none can be derived.
pub fn derive_package(frame: &Frame) -> &str {
    if let Some(package) = path_package(&frame.file) {
        return package;
    }
    function_package(&frame.function)
}

fn path_package(file: &str) -> Option<&str> {
    if let Some(rest) = after_last(file, "node_modules/") {
        return Some(npm_package(rest));
    }
    for marker in ["site-packages/", "dist-packages/"] {
        if let Some(rest) = after_last(file, marker) {
            let module = first_segment(rest);
            return Some(module.strip_suffix(".py").unwrap_or(module));
        }
    }
    if let Some(rest) = after_last(file, "gems/") {
        return Some(strip_version(first_segment(rest)));
    }
    None
}

fn after_last<'a>(haystack: &'a str, marker: &str) -> Option<&'a str> {
    let start = haystack.rfind(marker)? + marker.len();
    let rest = &haystack[start..];
    (!rest.is_empty()).then_some(rest)
}

fn first_segment(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// `@scope/name/...` → `@scope/name`, `name/...` → `name`.
fn npm_package(rest: &str) -> &str {
    if !rest.starts_with('@') {
        return first_segment(rest);
    }
    let mut slashes = rest.match_indices('/');
    slashes.next();
    match slashes.next() {
        Some((second_slash, _)) => &rest[..second_slash],
        None => rest,
    }
}

/// `rack-2.2.8` → `rack`, `aws-sdk-core-3.1.0` → `aws-sdk-core`: cut at the last
/// `-` that is followed by a digit.
fn strip_version(gem_dir: &str) -> &str {
    let bytes = gem_dir.as_bytes();
    for (dash, _) in gem_dir.match_indices('-').rev() {
        let followed_by_digit = bytes.get(dash + 1).is_some_and(u8::is_ascii_digit);
        if followed_by_digit && dash > 0 {
            return &gem_dir[..dash];
        }
    }
    gem_dir
}

fn function_package(function: &str) -> &str {
    // .NET stacks may carry a `Module!` prefix.
    let name = function.rsplit_once('!').map_or(function, |(_, name)| name);
    if let Some(head) = rust_crate(name) {
        return head;
    }
    if let Some(last_slash) = name.rfind('/') {
        let last_segment = &name[last_slash + 1..];
        let leaf_package = last_segment.split('.').next().unwrap_or(last_segment);
        let is_class = leaf_package.starts_with(|c: char| c.is_ascii_uppercase());
        return if is_class {
            &name[..last_slash]
        } else {
            &name[..last_slash + 1 + leaf_package.len()]
        };
    }
    dotted_package(name)
}

fn rust_crate(name: &str) -> Option<&str> {
    let trimmed = name.trim_start_matches(['<', '&', '*']);
    let trimmed = trimmed.strip_prefix("dyn ").unwrap_or(trimmed);
    let end = trimmed.find("::")?;
    let head = &trimmed[..end];
    let is_identifier =
        !head.is_empty() && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    is_identifier.then_some(head)
}

fn dotted_package(name: &str) -> &str {
    let segments: Vec<&str> = name.split('.').collect();
    if segments.len() < 2 || segments.iter().any(|s| s.is_empty()) {
        return "";
    }
    let without_method = &segments[..segments.len() - 1];
    let lowercase_head = without_method
        .iter()
        .take_while(|s| s.starts_with(|c: char| c.is_ascii_lowercase()))
        .count();
    let kept = if lowercase_head > 0 {
        lowercase_head
    } else if without_method.len() >= 2 {
        // Namespace.Class.Method: drop the class too.
        without_method.len() - 1
    } else {
        without_method.len()
    };
    let len = segments[..kept].iter().map(|s| s.len()).sum::<usize>() + kept - 1;
    &name[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of_file(file: &str) -> String {
        derive_package(&Frame {
            file: file.to_owned(),
            function: "f".to_owned(),
            ..Frame::default()
        })
        .to_owned()
    }

    fn of_function(function: &str) -> String {
        derive_package(&Frame::named(function)).to_owned()
    }

    #[test]
    fn npm_packages() {
        assert_eq!(
            of_file("/srv/app/node_modules/express/lib/router/layer.js"),
            "express"
        );
        assert_eq!(
            of_file("file:///srv/app/node_modules/@nestjs/core/router/x.js"),
            "@nestjs/core"
        );
        assert_eq!(
            of_file("/a/node_modules/express/node_modules/debug/src/index.js"),
            "debug"
        );
    }

    #[test]
    fn python_packages() {
        assert_eq!(
            of_file("/usr/lib/python3/site-packages/requests/sessions.py"),
            "requests"
        );
        assert_eq!(of_file("/usr/lib/python3/dist-packages/six.py"), "six");
    }

    #[test]
    fn gems() {
        assert_eq!(
            of_file("/usr/local/bundle/gems/rack-2.2.8/lib/rack/builder.rb"),
            "rack"
        );
        assert_eq!(
            of_file("/bundle/gems/aws-sdk-core-3.190.0/lib/seahorse.rb"),
            "aws-sdk-core"
        );
    }

    #[test]
    fn qualified_functions() {
        assert_eq!(of_function("runtime.mallocgc"), "runtime");
        assert_eq!(of_function("net/http.(*conn).serve"), "net/http");
        assert_eq!(
            of_function("github.com/acme/shop/cart.(*Cart).Add"),
            "github.com/acme/shop/cart"
        );
        assert_eq!(of_function("java.util.HashMap.get"), "java.util");
        assert_eq!(
            of_function("java/util/concurrent/ThreadPoolExecutor$Worker.run"),
            "java/util/concurrent"
        );
        assert_eq!(
            of_function("System.Threading.Tasks.Task.ExecuteWithThreadLocal"),
            "System.Threading.Tasks"
        );
        assert_eq!(
            of_function("System.Private.CoreLib!System.String.Concat"),
            "System"
        );
        assert_eq!(of_function("std::rt::lang_start_internal"), "std");
        assert_eq!(
            of_function("<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop"),
            "alloc"
        );
        assert_eq!(of_function("main"), "");
        assert_eq!(of_function("(anonymous)"), "");
    }
}
