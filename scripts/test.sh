#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the fleet tests (real nats-server, nftables and
# packets in network namespaces). Needs root. Does its own set-up first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Kubernetes tests start a real kube-apiserver and etcd, envtest style: KUBEBUILDER_ASSETS names a
# directory with kube-apiserver (and etcd, else Debian's from PATH). Default: ../shared/kube when it exists.
if [ -z "${KUBEBUILDER_ASSETS:-}" ] && [ -x ../shared/kube/kube-apiserver ]; then
  KUBEBUILDER_ASSETS=$(cd ../shared/kube && pwd); export KUBEBUILDER_ASSETS
fi
npx tsc -p tsconfig.test.json   # type-check the tests and the harness too (vitest only strips types)
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line, whatever the runner printed above it.
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);' "$report" || true
exit $status
