#!/usr/bin/env bash
# Extracts the Middlebury "Aloe" pair (aloeL.jpg, aloeGT.png) and the copyright file from Debian's opencv-doc
# into .cache/densezoo-data/ (apt-get download + dpkg-deb, nothing installed; idempotent).
#   bench/densezoo/fetch_data.sh [DEST]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dest="${1:-$repo/.cache/densezoo-data}"
[ -f "$dest/opencv-doc/.extracted" ] && exit 0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
data=usr/share/doc/opencv-doc/examples/data
(cd "$work" && apt-get download opencv-doc >/dev/null)
mkdir -p "$dest/opencv-doc"
dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb \
  | tar -x -C "$dest/opencv-doc" "./$data/aloeL.jpg" "./$data/aloeGT.png" ./usr/share/doc/opencv-doc/copyright
touch "$dest/opencv-doc/.extracted"
