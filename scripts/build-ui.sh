#!/usr/bin/env bash
# Installs the UI's npm packages (npm ci, when package-lock.json changed) and
# builds ui/dist with Vite (when a source changed since the last build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../ui"

command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ with npm" >&2; exit 1; }
stamp=node_modules/.vispyr-ci-stamp
want="$(sha256sum package-lock.json | cut -d' ' -f1) node=$(node --version)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi
newest_source="$(find src index.html package-lock.json vite.config.ts tsconfig.json -type f -newer dist/index.html 2>/dev/null | head -1 || true)"
if [[ ! -f dist/index.html || -n "$newest_source" ]]; then
  npm run build
fi
