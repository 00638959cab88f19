#!/usr/bin/env bash
# Runs every test: installs the real clients and servers the end-to-end tests
# drive (tests/e2e/install.sh: npm and pip packages, Prometheus, node_exporter,
# PostgreSQL and Chromium from Debian), builds the web UI and runs its unit
# tests (Vitest), then the whole Rust test suite (which includes the UI's
# end-to-end tests in headless Chromium, crates/vispyr/tests/ui_e2e.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/e2e/install.sh
bash scripts/build-ui.sh
(cd ui && npm test)
cargo test --workspace --locked
