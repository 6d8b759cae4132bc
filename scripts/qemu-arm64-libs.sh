#!/usr/bin/env bash
# Shared libraries the linux-arm64 edgetvq loads at run time that the aarch64 cross packages lack, for running it
# under qemu-user on an x86-64 machine. Today: OpenSSL 3 (libssl.so.3, libcrypto.so.3), which .NET's SHA-256 and
# other System.Security.Cryptography calls dlopen; without it the binary aborts with "No usable version of libssl
# was found" as soon as it hashes anything (a Jetson with JetPack 6 has libssl3 installed).
#
#   scripts/qemu-arm64-libs.sh [DEST]     (default DEST: <repo>/.cache/qemu-arm64)
#
# Downloads Debian's libssl3:arm64 with apt-get (a private package-list folder: the system's apt configuration and
# architectures are not changed), unpacks it under DEST, and prints the folder to pass to qemu:
#   qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=<printed folder> edgetvq ...
# Does nothing but print the folder when the libraries are already there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$root/.cache/qemu-arm64}"
lib="$dest/usr/lib/aarch64-linux-gnu"
packages=(libssl3:arm64)

if [ -f "$lib/libssl.so.3" ] && [ -f "$lib/libcrypto.so.3" ]; then
  echo "$lib"
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "qemu-arm64-libs: apt-get and dpkg-deb are needed (Debian/Ubuntu)" >&2
  exit 1
fi

state="$(mktemp -d)"
trap 'rm -rf "$state"' EXIT
chmod 0755 "$state"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs"
opts=(-q -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
      -o APT::Architecture=arm64 -o APT::Architectures::=arm64)
# As root, apt would hand the downloads to its _apt user, which cannot write into our folder.
[ "$(id -u)" -ne 0 ] || opts+=(-o APT::Sandbox::User=root)
apt-get "${opts[@]}" update >/dev/null 2>&1 \
  || { echo "qemu-arm64-libs: apt-get update for arm64 failed" >&2; apt-get "${opts[@]}" update >&2; exit 1; }
(cd "$state/debs" && apt-get "${opts[@]}" download "${packages[@]}" >/dev/null 2>&1) \
  || { echo "qemu-arm64-libs: could not download ${packages[*]}" >&2; exit 1; }
mkdir -p "$dest"
for deb in "$state"/debs/*.deb; do dpkg-deb -x "$deb" "$dest"; done
[ -f "$lib/libssl.so.3" ] || { echo "qemu-arm64-libs: libssl.so.3 not in ${packages[*]}" >&2; exit 1; }
echo "$lib"
