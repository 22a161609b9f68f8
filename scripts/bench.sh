#!/usr/bin/env bash
# Hot-path benchmark: our own harness, then the shared yardstick (if this checkout sits beside
# shared/). Set RELAY_PYTHON to a python with nemo-relay==0.3.0 installed to measure the
# original in the same run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/dev-env.sh"
py="$root/.venv/bin/python"
"$py" "$root/benches/hotpath.py" "$@"
shared="$root/../shared/bench/hotpath.py"
if [ -f "$shared" ]; then
  "$py" -m pip install -q opentelemetry-sdk opentelemetry-api
  "$py" "$shared" --module nemo_flow --json "$root/target/bench-nemo_flow.json"
  if [ -n "${RELAY_PYTHON:-}" ]; then
    "$RELAY_PYTHON" "$shared" --module nemo_relay --json "$root/target/bench-nemo_relay.json"
    "$py" "$shared" --compare "$root/target/bench-nemo_relay.json" "$root/target/bench-nemo_flow.json"
  fi
fi
