#!/usr/bin/env bash
# Builds the web UI (ui/ → ui/dist, embedded into the release binary) and runs
# `vispyr serve` with the embedded store in ./vispyr-data. Extra arguments go
# to `vispyr serve` (e.g. `bash scripts/serve.sh --config vispyr.yaml`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/build-ui.sh
# The release build embeds ui/dist; cargo notices a changed ui/dist and re-embeds it.
exec cargo run --release --locked -p vispyr -- serve "$@"
