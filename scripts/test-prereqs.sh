#!/usr/bin/env bash
# Installs what the end-to-end tests need on a fresh Debian machine: network namespaces and NAT
# (iproute2, nftables), and the local lab's Debian servers (debootstrap, systemd-nspawn from
# systemd-container, openssh-client). Without root it only reports; the tests that need root then
# skip, but in CI (CI=true) a missing tool is an error, because there the tests must run.
set -euo pipefail
# debootstrap lives in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-prereqs: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  exit 0
fi
echo "test-prereqs: missing ${need[*]}; tests that need them will be skipped" >&2
if [ "${CI:-}" = "true" ]; then exit 1; fi
