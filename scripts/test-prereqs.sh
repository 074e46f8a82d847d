#!/usr/bin/env bash
# Installs what the end-to-end tests need on a fresh Debian machine: network namespaces and NAT
# (iproute2, nftables), the local lab's Debian servers (debootstrap, systemd-nspawn from
# systemd-container, openssh-client), and a terminal for the init wizard's tests (tmux). Without root it only reports; the tests that need root then
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
# The init wizard's tests drive the CLI in a real terminal.
command -v tmux >/dev/null 2>&1 || need+=(tmux)
missing=0
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-prereqs: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test-prereqs: missing ${need[*]}; tests that need them will be skipped" >&2
    missing=1
  fi
fi

# The Automation-layer tests drive the real Pulumi engine. When no pulumi CLI is on PATH, build the
# pinned release from the Go module proxy (5 to 15 minutes cold, a 1.5 GB module cache; everything
# under the cache dir, so a later run only checks the binary). This binary is a test prerequisite
# only: users install the Pulumi CLI as the README says. The path must match test/support/pulumi-cli.ts.
pulumi_version=v3.274.1
cache="$HOME/.cache/drasyl-deploy"
pulumi_bin="$cache/pulumi-cli/$pulumi_version/bin/pulumi"
go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || { [ -x /usr/local/go/bin/go ] && go_bin=/usr/local/go/bin/go; }
if command -v pulumi >/dev/null 2>&1 || [ -x "$pulumi_bin" ]; then
  :
elif [ -n "$go_bin" ]; then
  echo "test-prereqs: building the Pulumi CLI $pulumi_version into $pulumi_bin (about 5 minutes, once per machine)"
  mod="$cache/pulumi-cli/$pulumi_version/module"
  mkdir -p "$mod" "$(dirname "$pulumi_bin")"
  # The upstream CLI module replaces the unmaintained clipboard package; a module that requires
  # pkg/v3 has to repeat that replace, or the build resolves the original and fails.
  cat >"$mod/go.mod" <<GOMOD
module drasyl-deploy/pulumi-cli

go 1.24

require (
	github.com/pulumi/pulumi/pkg/v3 $pulumi_version
	github.com/pulumi/pulumi/sdk/v3 $pulumi_version
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
GOMOD
  (
    cd "$mod"
    export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOTOOLCHAIN=local
    # Build to a temp name first: a build killed halfway must not leave a binary the tests trust.
    # -mod=mod lets the build resolve the module graph and write go.sum itself; -modcacherw keeps
    # the module cache removable with a plain rm -rf.
    "$go_bin" build -mod=mod -modcacherw -o "$pulumi_bin.partial" \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    mv "$pulumi_bin.partial" "$pulumi_bin"
    # The compiled packages (about 1.5 GB) only speed up an identical rebuild; the binary is cached.
    "$go_bin" clean -cache
  )
else
  echo "test-prereqs: no pulumi CLI and no go to build it; the Pulumi engine tests will be skipped" >&2
  missing=1
fi
# The engine tests' stand-in resources are dynamic resources, served by the pulumi-nodejs resource
# plugin that the Pulumi release ships next to its CLI; the engine looks for it there. Same script.
plugin="$(dirname "$pulumi_bin")/pulumi-resource-pulumi-nodejs"
if [ -x "$pulumi_bin" ] && [ ! -x "$plugin" ]; then
  cat >"$plugin.partial" <<'PLUGIN'
#!/bin/sh
PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH=$(node -e "console.log(require.resolve('@pulumi/pulumi/cmd/dynamic-provider'))")
if [ ! -z "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" ]; then
    node "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" $@
fi
PLUGIN
  chmod 755 "$plugin.partial"
  mv "$plugin.partial" "$plugin"
fi

# The monitoring tests check the generated rules and config with promtool and scrape a super peer
# with a real Prometheus: Debian's prometheus package, unpacked into the cache rather than
# installed, so no Prometheus service starts and no system user is created. The path must match
# test/support/prometheus.ts.
prom_dir="$cache/prometheus"
if command -v promtool >/dev/null 2>&1 || [ -x "$prom_dir/usr/bin/promtool" ]; then
  :
elif command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
  echo "test-prereqs: unpacking Debian's prometheus package into $prom_dir"
  tmp="$(mktemp -d)"
  chmod 0755 "$tmp"
  if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
    [ "$(id -u)" -eq 0 ] && apt-get update -qq >/dev/null
    (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1) || true
  fi
  if ls "$tmp"/prometheus_*.deb >/dev/null 2>&1; then
    rm -rf "$prom_dir.partial"
    dpkg-deb -x "$tmp"/prometheus_*.deb "$prom_dir.partial"
    rm -rf "$prom_dir"
    mv "$prom_dir.partial" "$prom_dir"
  else
    echo "test-prereqs: cannot download Debian's prometheus package; the Prometheus tests will be skipped" >&2
    missing=1
  fi
  rm -rf "$tmp"
else
  echo "test-prereqs: no promtool and no apt-get to fetch it; the Prometheus tests will be skipped" >&2
  missing=1
fi

if [ "$missing" -eq 1 ] && [ "${CI:-}" = "true" ]; then exit 1; fi
