#!/usr/bin/env bash
# Shared set-up for quickstart.sh and test.sh: create .venv in the repo root when missing and
# install the project (idempotent: a second run only checks what is installed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x "$root/.venv/bin/python" ]; then
  "$python" -m venv "$root/.venv"
  "$root/.venv/bin/pip" install --quiet --upgrade pip
fi
# torch first, pinned to the CPU build: an unpinned torch may pull a multi-GB CUDA build.
if ! "$root/.venv/bin/python" -c "import torch" 2>/dev/null; then
  "$root/.venv/bin/pip" install --quiet "torch==2.13.0"
fi
stamp="$root/.venv/.nsrl_installed${extras:+_$extras}"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  "$root/.venv/bin/pip" install --quiet -e "$root${extras:+[$extras]}"
  touch "$stamp"
fi
# OCAtari without its numpy<2 pin (see pyproject.toml): its runtime needs are project dependencies.
if ! "$root/.venv/bin/python" -c "import ocatari" 2>/dev/null; then
  "$root/.venv/bin/pip" install --quiet --no-deps "ocatari==2.2.1"
fi
