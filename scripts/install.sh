#!/usr/bin/env bash
# Install dockharden on this server, as root: a virtual environment of its own, /opt/dockharden, and the
# command linked into /usr/local/bin. Debian 12+ and Ubuntu 23.04+ mark the system Python as externally
# managed (PEP 668): pip may not install into it, and dockharden does not try. Nothing else on the system
# changes, except python3-venv from apt when the system Python cannot make a venv yet.
#
#   bash scripts/install.sh                 # install or upgrade from this checkout
#   bash scripts/install.sh SOURCE...       # from wheels, an sdist or a requirement ("dockharden==0.2.0")
#   bash scripts/install.sh --uninstall     # remove the venv and the link (not /etc/dockharden, not its state)
#
# Offline, as pip always does: PIP_NO_INDEX=1 PIP_FIND_LINKS=/path/to/wheels bash scripts/install.sh SOURCE
# Where: DOCKHARDEN_PREFIX (default /opt/dockharden), DOCKHARDEN_BIN (default /usr/local/bin).
set -euo pipefail

prefix="${DOCKHARDEN_PREFIX:-/opt/dockharden}"
bin_dir="${DOCKHARDEN_BIN:-/usr/local/bin}"
checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'install.sh: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (sudo bash scripts/install.sh): dockharden goes to $prefix and $bin_dir"

is_venv() { [ -f "$1/pyvenv.cfg" ]; }
# Only a directory that is a venv (or empty, or missing) is ever removed or replaced: DOCKHARDEN_PREFIX=/usr
# must not cost the system its /usr.
if [ -e "$prefix" ] && ! is_venv "$prefix" && [ -n "$(ls -A "$prefix" 2>/dev/null)" ]; then
  fail "$prefix exists and is not a virtual environment (no pyvenv.cfg): not touching it; choose another DOCKHARDEN_PREFIX"
fi

if [ "${1:-}" = "--uninstall" ]; then
  link="$bin_dir/dockharden"
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$prefix/bin/dockharden" ]; then
    rm -f "$link"
  fi
  rm -rf "$prefix"
  say "removed $prefix and $link. Left in place: /etc/dockharden (your layers and selection) and"
  say "/var/lib/dockharden (generations: 'dockharden rollback' needs them); remove them yourself when done."
  say "A weekly timer installed with 'dockharden schedule install' should be removed first ('dockharden schedule uninstall')."
  exit 0
fi

python="$(command -v python3 || true)"
[ -n "$python" ] || fail "python3 not found: apt-get install python3 python3-venv (dockharden needs Python 3.11 or newer)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "$("$python" -V 2>&1) is too old: dockharden needs Python 3.11 or newer"

# Debian and Ubuntu ship venv's pip bootstrap (ensurepip) in python3-venv (python3.X-venv on Ubuntu).
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  command -v apt-get >/dev/null || fail "$python cannot make a virtual environment (no ensurepip): install your distribution's python3-venv"
  say "installing python3-venv (apt-get): the system Python cannot make a virtual environment yet"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2 \
    || fail "apt-get install python3-venv failed: install it (or python3.X-venv on Ubuntu) and run this again"
fi

venv="$prefix"
# A venv belongs to one Python: after a distribution upgrade (3.11 -> 3.13) it is made anew.
wanted="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
have="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
if [ "$have" != "$wanted" ]; then
  [ -z "$have" ] || say "$venv was made by Python $have, the system has $wanted: making it anew"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  chmod 0755 "$venv"
fi

if [ "$#" -eq 0 ]; then
  set -- "$checkout"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
"$venv/bin/python" -m pip install --quiet --upgrade "$@" >&2 \
  || fail "pip could not install $* into $venv (its output is above); nothing outside $prefix was changed"

mkdir -p "$bin_dir"
ln -sfn "$venv/bin/dockharden" "$bin_dir/dockharden"
say "dockharden $("$venv/bin/dockharden" --version | awk '{print $NF}') is in $venv, linked as $bin_dir/dockharden."
say "Upgrade: run this again with the new checkout or wheel. Remove: bash scripts/install.sh --uninstall."
