#!/usr/bin/env bash
# Set up and run every test of the VS Code extension, in order:
#   npm ci (skipped while package-lock.json is unchanged) → build → type check → unit tests →
#   vsce package → end-to-end test in code-server driven by chromium.
# Idempotent; a second run reinstalls nothing. Needs node 20, the project's Python environment
# (STARCHAT_PYTHON, default .venv/bin/python) and the Debian packages chromium, ripgrep and
# libkrb5-dev (code-server's native modules build against it).
# Artifacts (screenshots, timings, logs): artifacts/vscode/.
# Set SKIP_E2E=1 to stop after packaging.
set -euo pipefail

EXT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO="$(cd "$EXT/../.." && pwd)"
export STARCHAT_PYTHON="${STARCHAT_PYTHON:-$REPO/.venv/bin/python}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export HF_HUB_OFFLINE=1

# code-server's postinstall refuses to run as root without unsafe-perm, and node-pty's runs
# `npx node-gyp`, which must not stop to ask.
export npm_config_unsafe_perm=true npm_config_yes=true
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
# Native modules build against the installed node's headers rather than downloading them.
if [[ -f /usr/include/node/node.h ]]; then export npm_config_nodedir=/usr; fi

step() { printf '\n== %s\n' "$*"; }
fail() { echo "error: $*" >&2; exit 1; }

step "checking the tools"
command -v node >/dev/null || fail "node is missing (apt-get install nodejs npm)"
[[ "$(node -p 'process.versions.node.split(".")[0]')" == 20 ]] ||
  fail "node 20 is required (code-server 4.100.3 runs on it); found $(node --version)"
[[ -x "$STARCHAT_PYTHON" ]] || fail "no Python at $STARCHAT_PYTHON (run scripts/setup.sh or set STARCHAT_PYTHON)"
if [[ -z "${SKIP_E2E:-}" ]]; then
  [[ -x "$CHROMIUM" ]] || fail "chromium is missing (apt-get install chromium)"
  command -v rg >/dev/null || fail "ripgrep is missing (apt-get install ripgrep)"
fi

# `npm ci` only when package-lock.json changed since the last install into node_modules.
install() {
  local dir="$1" stamp="$1/node_modules/.installed-lock"
  if [[ -f "$stamp" ]] && cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "$dir: node_modules up to date"
    return
  fi
  (cd "$dir" && npm ci --no-audit --no-fund)
  cp "$dir/package-lock.json" "$stamp"
}

step "installing the extension's packages"
install "$EXT"

cd "$EXT"
step "type checking and format check"
npx tsc -p . && npx tsc -p src/webview
npx prettier --check .

step "unit tests"
npm run --silent test:unit

step "building and packaging (vscode:prepublish bundles with esbuild)"
npx vsce package --no-dependencies --out dist/starchat-vscode.vsix
[[ -s dist/starchat-vscode.vsix ]] || fail "vsce produced no .vsix"

if [[ -n "${SKIP_E2E:-}" ]]; then
  exit 0
fi

step "installing code-server and playwright-core"
# @vscode/ripgrep (inside code-server) downloads rg from GitHub unless its cache holds the
# archive; Debian's rg, packed under the expected name, stands in for it. 1.15.11 is the
# version code-server 4.100.3 pins.
RG_CACHE="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
RG_ARCHIVE="$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [[ ! -s "$RG_ARCHIVE" ]]; then
  mkdir -p "$RG_CACHE"
  tar -C "$(dirname "$(command -v rg)")" -czf "$RG_ARCHIVE" rg
fi
install "$EXT/e2e"

step "end-to-end test in code-server"
started=$SECONDS
npx tsc -p e2e
# One at a time: each runs its own code-server and model.
node --test --test-concurrency=1 --test-reporter=spec e2e/out/chat.e2e.js e2e/out/edits.e2e.js e2e/out/inline.e2e.js e2e/out/hostile-workspace.e2e.js
echo "end-to-end test: $((SECONDS - started)) s; screenshots in $REPO/artifacts/vscode/"
