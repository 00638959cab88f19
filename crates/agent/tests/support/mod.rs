//! Shared by the agent's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The `vispyr` binary the tests run as the server (and as the agent):
/// `$VISPYR_BIN`, else the one cargo built next to this test
/// (`target/<profile>/vispyr` — `cargo test --workspace` builds it).
pub fn vispyr_bin() -> PathBuf {
    let path = std::env::var_os("VISPYR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let test = std::env::current_exe().expect("the test binary's path");
            // target/<profile>/deps/<test> → target/<profile>/vispyr
            test.parent()
                .and_then(|deps| deps.parent())
                .expect("test binaries live in target/<profile>/deps")
                .join("vispyr")
        });
    assert!(
        path.exists(),
        "{} is missing: build it (`cargo build -p vispyr`, or run `cargo test --workspace`) or set VISPYR_BIN",
        path.display()
    );
    path
}
