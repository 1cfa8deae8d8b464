#!/usr/bin/env bash
# Runs the fleet demo: NATS, the controller and three agents in network namespaces, the example
# policy applied, and what each host enforces printed. Needs root. Does its own set-up first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx tsx test/demo/demo.ts "$@"
