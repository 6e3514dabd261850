#!/usr/bin/env bash
# Create the project's virtual environment with a Python >= 3.11, installing Python on Debian if needed.
# Usage: scripts/ensure-venv.sh [PYTHON] [VENV_DIR]
set -euo pipefail

want_python=${1:-python3}
venv=${2:-.venv}
say() { echo "ensure-venv: $*"; }
die() { echo "ensure-venv: error: $*" >&2; exit 1; }

as_root=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; else as_root="none"; fi
fi
can_apt() { [ "$as_root" != "none" ] && command -v apt-get >/dev/null 2>&1; }
apt() { DEBIAN_FRONTEND=noninteractive $as_root apt-get "$@"; }

ok_version() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; }

python=""
for candidate in "$want_python" python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && ok_version "$candidate"; then python=$candidate; break; fi
done
if [ -z "$python" ]; then
  can_apt || die "Switchboard needs Python 3.11 or newer; install it (or run as root on Debian/Ubuntu)"
  say "installing python3 (Debian package)"
  apt update -qq && apt install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  ok_version python3 || die "the distribution's python3 is older than 3.11; install Python 3.11+ and set PYTHON="
  python=python3
fi

if ! "$python" -m venv "$venv" 2>/dev/null; then
  rm -rf "$venv"
  # Debian splits venv/ensurepip into pythonX.Y-venv.
  short=$("$python" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')
  can_apt || die "'$python -m venv' failed; install the ${short}-venv package (as root) and retry"
  say "installing ${short}-venv (Debian package)"
  apt update -qq && apt install -y -qq --no-install-recommends "${short}-venv" >/dev/null
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip || say "could not upgrade pip (offline?); continuing"
say "created $venv with $("$venv/bin/python" --version)"
