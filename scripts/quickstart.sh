#!/usr/bin/env bash
# Set up (idempotent) and run the quickstart: a PPO teacher on CartPole becomes an explained formula.
# Extra arguments go to `nsrl run`, e.g. scripts/quickstart.sh --smoke
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/_setup.sh"
cd "$root"
export OMP_NUM_THREADS=1
exec "$root/.venv/bin/nsrl" run tune_configs/quickstart.yaml "$@"
