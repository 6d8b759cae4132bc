#!/usr/bin/env bash
# Cross-builds the Jetson runtime on an x86-64 Debian 12 / Ubuntu workstation and packs it for the device.
#
#   deploy/jetson/cross-build.sh [--max-glibc 2.35] [--nano]
#
# --nano builds the classic Jetson Nano flavour instead (JetPack 4.6, glibc 2.27: ./build.sh publish --rid linux-arm64
# --glibc 2.27, checked against glibc 2.27 and GLIBCXX 3.4.25) into artifacts/jetson/edgetvq-linux-arm64-glibc2.27.tar.gz.
#
# 1. ../../build.sh publish --rid linux-arm64   (Native AOT; installs clang and the aarch64 cross packages if missing)
# 2. scripts/check-glibc.sh on edgetvq and libonnxruntime.so: fails if they need a newer glibc than the target
#    (2.35 = JetPack 6 / Ubuntu 22.04)
# 3. artifacts/jetson/edgetvq-linux-arm64.tar.gz: edgetvq, libonnxruntime*.so, install.sh, update.sh,
#    edgetvq.service, README.md in one folder; on the Jetson: tar xzf ...; sudo ./edgetvq-linux-arm64/install.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
max_glibc=2.35
nano=false
while [ $# -gt 0 ]; do
  case "$1" in
    --max-glibc) [ $# -ge 2 ] || { echo "cross-build.sh: --max-glibc needs a value" >&2; exit 2; }; max_glibc="$2"; shift ;;
    --max-glibc=*) max_glibc="${1#--max-glibc=}" ;;
    --nano) nano=true ;;
    -h|--help) sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "cross-build.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

if $nano; then
  "$root/build.sh" publish --rid linux-arm64 --glibc 2.27
  name=edgetvq-linux-arm64-glibc2.27
  publish="$root/artifacts/publish/linux-arm64-glibc2.27"
  "$root/scripts/check-glibc.sh" --glibcxx 3.4.25 "$publish/edgetvq" 2.27
else
  "$root/build.sh" publish --rid linux-arm64
  name=edgetvq-linux-arm64
  publish="$root/artifacts/publish/linux-arm64"
  "$root/scripts/check-glibc.sh" "$publish/edgetvq" "$max_glibc"
fi

stage="$root/artifacts/jetson/$name"
rm -rf "$stage"
mkdir -p "$stage"
cp -p "$publish"/* "$stage/"
cp -p "$here/install.sh" "$here/update.sh" "$here/edgetvq.service" "$here/README.md" "$stage/"
tar -C "$root/artifacts/jetson" -czf "$root/artifacts/jetson/$name.tar.gz" --owner=0 --group=0 "$name"
echo "cross-build.sh: artifacts/jetson/$name.tar.gz ($(stat -c %s "$root/artifacts/jetson/$name.tar.gz") bytes)"
