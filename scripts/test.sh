#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the fleet tests (real nats-server, nftables and
# packets in network namespaces). Needs root. Does its own set-up first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx vitest run "$@"
