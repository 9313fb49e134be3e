#!/usr/bin/env bash
# tests/gpu/carry.sh — fills .gpu/ (ignored by git) with what the GPU machine lacks and cannot
# fetch, for a device call with carry: [".gpu"]: Debian's packages for our build and the
# explorer's tests (unpacked there into a private sysroot by tests/gpu/sysroot.sh) and the
# Fashion-MNIST files. Run it here, as root, once per fresh checkout.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
mkdir -p .gpu/debs .gpu/data
PKGS="libsixel-dev libsixel1 libpng-dev libpng16-16 zlib1g-dev libncurses-dev libncursesw6 libtinfo6
      libopenblas-dev libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0
      tmux libevent-core-2.1-7 libutempter0"
[ -d /var/lib/apt/lists ] && ls /var/lib/apt/lists/*Packages >/dev/null 2>&1 || apt-get update -qq
(cd .gpu/debs && apt-get download -qq $PKGS 2>/dev/null)
cp /usr/share/datasets/fashion-mnist/*.gz .gpu/data/
du -sh .gpu
