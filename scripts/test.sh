#!/usr/bin/env bash
# Runs every test: installs the real clients and servers the end-to-end tests
# drive (tests/e2e/install.sh: npm and pip packages, Prometheus, node_exporter
# and PostgreSQL from Debian), then the whole Rust test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/e2e/install.sh
cargo test --workspace --locked
