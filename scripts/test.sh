#!/usr/bin/env bash
# Set up with the dev extras (idempotent) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/_setup.sh" dev
cd "$root"
export OMP_NUM_THREADS=1
exec "$root/.venv/bin/python" -m pytest -q "$@"
