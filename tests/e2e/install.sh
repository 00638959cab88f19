#!/usr/bin/env bash
# Install the dependencies of the end-to-end client scripts: the OTLP clients
# (send.mjs / send.py), the Pyroscope SDK profiling workloads (profile.mjs /
# profile.py), the instrumented Node.js system (system.mjs), Prometheus +
# node_exporter from Debian (metrics tests) and PostgreSQL's server binaries
# from Debian (the system test starts its own throwaway cluster with them).
#
#   tests/e2e/node    -> npm ci (node_modules/, from package-lock.json)
#   tests/e2e/python  -> venv at tests/e2e/python/.venv with requirements.txt
#
# Native code comes prebuilt inside the registry packages, no compiler needed:
# @pyroscope/nodejs depends on @datadog/pprof, whose npm tarball ships
# prebuilds/<platform>-<arch>/dd_pprof.node.abi<N>.node (loaded at run time by
# node-gyp-build; its "install" script is just `exit 0`), and pyroscope-io
# ships manylinux wheels (cp310..cp313) with the Rust extension inside.
#
# Idempotent: each half is skipped when its lock/requirements file (and, for
# Python, the interpreter version) is unchanged since the last successful
# install. Pass --force (or E2E_INSTALL_FORCE=1) to reinstall anyway.
# Override the interpreter used to create the venv with PYTHON=/path/to/python3.
#
# Afterwards run the clients with:
#   node tests/e2e/node/send.mjs
#   tests/e2e/python/.venv/bin/python tests/e2e/python/send.py
#   node tests/e2e/node/profile.mjs
#   tests/e2e/python/.venv/bin/python tests/e2e/python/profile.py
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE_DIR="$E2E_DIR/node"
PY_DIR="$E2E_DIR/python"
VENV="$PY_DIR/.venv"

FORCE="${E2E_INSTALL_FORCE:-0}"
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { echo "[e2e install] $*" >&2; }

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- Node.js -------------------------------------------------------------------
install_node() {
  command -v node >/dev/null || { log "node not found on PATH"; exit 1; }
  command -v npm >/dev/null || { log "npm not found on PATH"; exit 1; }
  local stamp="$NODE_DIR/node_modules/.vispyr-e2e-stamp" want
  if [[ -f "$NODE_DIR/package-lock.json" ]]; then
    want="$(hash_of "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json") node=$(node --version)"
    if [[ "$FORCE" != 1 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
      log "node: up to date ($NODE_DIR/node_modules)"
      return
    fi
    log "node: npm ci in $NODE_DIR"
    # --ignore-scripts: nothing in this tree needs an install script
    # (@datadog/pprof's is `exit 0`; its native addon is prebuilt in the tarball).
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --ignore-scripts)
  else
    log "node: no package-lock.json, falling back to npm install"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --ignore-scripts)
    want="$(hash_of "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json") node=$(node --version)"
  fi
  echo "$want" > "$stamp"
}

# --- Python ----------------------------------------------------------------------
install_python() {
  local py="${PYTHON:-python3}"
  command -v "$py" >/dev/null || { log "$py not found on PATH"; exit 1; }
  local stamp="$VENV/.vispyr-e2e-stamp" want
  want="$(hash_of "$PY_DIR/requirements.txt") python=$("$py" -c 'import sys; print(sys.version.split()[0])')"
  if [[ "$FORCE" != 1 && -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "python: up to date ($VENV)"
    return
  fi
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "python: creating venv $VENV"
    "$py" -m venv "$VENV" || {
      log "python -m venv failed (on Debian: apt-get install python3-venv)"
      exit 1
    }
  fi
  log "python: pip install -r requirements.txt into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$PY_DIR/requirements.txt"
  echo "$want" > "$stamp"
}

# --- Debian packages -------------------------------------------------------------
# Prometheus 2.42 and node_exporter, the real things the metrics tests compare with;
# PostgreSQL for crates/vispyr/tests/system_e2e.rs, which only needs `initdb` and
# `postgres` (on PATH, or Debian's /usr/lib/postgresql/<version>/bin) and runs
# its own cluster in a temp dir — the package's own cluster is not used.
# Chromium for the UI's end-to-end tests (ui/e2e, driven by playwright-core).
install_debian() {
  local missing=()
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v prometheus-node-exporter >/dev/null || missing+=(prometheus-node-exporter)
  if ! command -v initdb >/dev/null && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    missing+=(postgresql)
  fi
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  if [[ ${#missing[@]} == 0 ]]; then
    log "debian: prometheus, node_exporter, postgresql and chromium present"
    return
  fi
  local sudo=""
  [[ "$(id -u)" != 0 ]] && sudo="sudo"
  log "debian: apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  # No service starts in containers without an init; policy-rc.d keeps it so elsewhere.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

install_debian
install_node
install_python
log "done. node: $NODE_DIR/{send,profile,system}.mjs  python: $VENV/bin/python $PY_DIR/{send,profile}.py"
