#!/usr/bin/env bash
# Runs every test: installs the real clients the end-to-end tests drive (the
# OpenTelemetry SDKs for Node.js and Python), then the whole Rust test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/e2e/install.sh
cargo test --workspace --locked
