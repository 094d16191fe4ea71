#!/usr/bin/env bash
# Install everything the test suite needs, on Debian 12, as root:
# the system packages behind the namespace-host tests (tests/host) and the
# systemd hosts (tests/systemd: mmdebstrap builds a root filesystem per Debian
# suite, systemd-nspawn boots it), and dockharden itself in editable mode with
# its test extras.
#
# Idempotent: re-running installs nothing new. Starts no daemon: the tests
# start their own dockerd inside private namespaces (tests/host/dockerd-ctl)
# or boot their own machines (tests/systemd/machine.py). Never adds a suite to
# this machine's apt sources: the other suites' packages go into the root
# filesystems only.
set -euo pipefail

PACKAGES=(
  docker.io       # dockerd 20.10 (+ containerd, runc), docker CLI
  auditd          # auditctl, /etc/audit
  ufw             # ufw, /etc/ufw, /etc/default/ufw
  iptables
  nftables        # nft: the nftables layer's table is checked (nft -c) and loaded in private namespaces
  busybox-static  # /bin/busybox: the whole userland of the probe image
  iproute2        # ip
  util-linux      # unshare, nsenter, mount
  openssl
  ca-certificates
  rootlesskit     # a real rootless dockerd for tests/host/test_rootless_on_a_real_daemon.py
  slirp4netns
  uidmap          # newuidmap/newgidmap
  fuse-overlayfs
  mmdebstrap        # root filesystems of bookworm, trixie and sid for tests/systemd
  systemd-container # systemd-nspawn: boots them with systemd as PID 1
  zstd              # the cached root filesystems are .tar.zst
  openssh-client    # ssh, ssh-keygen: the controller side of tests/systemd
  runsc             # gVisor: the gvisor layer registers /usr/bin/runsc (tests/host/test_reference_layers_on_a_real_daemon.py)
  zsh               # the zsh completion script is loaded by a real zsh (tests/cli/test_completion_and_man.py)
)
# Commands that must exist afterwards, and the package that brings each.
REQUIRED_COMMANDS=(
  dockerd:docker.io docker:docker.io containerd:containerd runc:runc
  auditctl:auditd ufw:ufw iptables:iptables nft:nftables ip:iproute2
  unshare:util-linux nsenter:util-linux mount:mount tar:tar openssl:openssl
  rootlesskit:rootlesskit slirp4netns:slirp4netns newuidmap:uidmap
  mmdebstrap:mmdebstrap systemd-nspawn:systemd-container zstd:zstd
  ssh:openssh-client ssh-keygen:openssh-client zsh:zsh runsc:runsc
)

die() { echo "install-test-deps: $*" >&2; exit 1; }

[[ ${EUID:-$(id -u)} -eq 0 ]] || die "must be run as root (apt-get install)"
command -v apt-get >/dev/null || die "apt-get not found: this script is for Debian"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
[[ -f pyproject.toml ]] || die "no pyproject.toml in $repo_root"

export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_SUSPEND=1  # no needrestart run from the apt hook
# dockerd and friends live in sbin; a CI environment may not have it on PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

echo "install-test-deps: apt-get update"
apt-get update -qq

missing=()
for pkg in "${PACKAGES[@]}"; do
  candidate="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
    missing+=("$pkg")
  fi
done
((${#missing[@]} == 0)) || die "not available from apt: ${missing[*]}"

echo "install-test-deps: apt-get install ${PACKAGES[*]}"
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null

absent=()
for entry in "${REQUIRED_COMMANDS[@]}"; do
  cmd="${entry%%:*}"
  command -v "$cmd" >/dev/null || absent+=("$cmd (${entry#*:})")
done
[[ -x /bin/busybox ]] || absent+=("/bin/busybox (busybox-static)")
((${#absent[@]} == 0)) || die "missing after install: ${absent[*]}"

python="$(command -v python3)" || die "python3 not found"
echo "install-test-deps: $python -m pip install -e '.[test]'"
PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
  "$python" -m pip install -q -e '.[test]'

echo "install-test-deps: done ($(dockerd --version))"
