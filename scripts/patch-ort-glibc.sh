#!/usr/bin/env bash
# Makes ONNX Runtime's linux-arm64 libonnxruntime.so (NuGet 1.31) load on glibc 2.27 (JetPack 4.6, the classic
# Jetson Nano), for the `./build.sh publish --glibc 2.27` flavour.
#
#   scripts/patch-ort-glibc.sh LIBONNXRUNTIME.so
#
# patches the library in place (pass a copy: the build passes the one in the publish folder) and writes the shim
# libedgetvq_fcntl64.so beside it.
#
# Why: the library needs nothing newer than GLIBC_2.27 except one symbol, fcntl64@GLIBC_2.28 (glibc 2.28 added
# fcntl64; on 64-bit targets it is the same call as fcntl). The patch:
#   1. marks the GLIBC_2.28 requirement in .gnu.version_r weak (scripts/elf_weak_version.py): the loader only warns
#      about a missing weak version;
#   2. clears fcntl64's symbol version (patchelf --clear-symbol-version), so any fcntl64 definition satisfies it;
#   3. adds libedgetvq_fcntl64.so, which defines fcntl64 over fcntl, as a needed library (found through the
#      library's RUNPATH $ORIGIN). Where glibc has fcntl64 (2.28+), libc is earlier in the lookup order and wins.
# The shim is built with the same zig as the binary (scripts/zig-cc.sh, EDGETVQ_GLIBC) for aarch64 glibc 2.27.
# Needs patchelf and python3. Idempotent; exits non-zero on any failure.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 LIBONNXRUNTIME.so" >&2; exit 2; }
lib="$1"
[ -f "$lib" ] || { echo "patch-ort-glibc: $lib not found" >&2; exit 1; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$(cd "$(dirname "$lib")" && pwd)"
command -v patchelf >/dev/null || { echo "patch-ort-glibc: patchelf is needed (apt-get install patchelf)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/fcntl64.c" <<'C'
/* fcntl64 for glibc < 2.28, where only fcntl exists; on 64-bit Linux both are the same system call. */
#include <fcntl.h>
#include <stdarg.h>
int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl(fd, cmd, arg);
}
C
"$here/zig-cc.sh" --target=aarch64-linux-gnu -shared -fPIC -O2 -o "$tmp/libedgetvq_fcntl64.so" "$tmp/fcntl64.c"

if readelf -V -W "$lib" | grep -q "Name: GLIBC_2.28  Flags: none"; then
  python3 "$here/elf_weak_version.py" "$lib" GLIBC_2.28
fi
patchelf --clear-symbol-version fcntl64 "$lib"
if ! patchelf --print-needed "$lib" | grep -qx libedgetvq_fcntl64.so; then
  patchelf --add-needed libedgetvq_fcntl64.so "$lib"
fi
[ "$(patchelf --print-rpath "$lib")" = '$ORIGIN' ] || patchelf --set-rpath '$ORIGIN' "$lib"
mv -f "$tmp/libedgetvq_fcntl64.so" "$dir/libedgetvq_fcntl64.so"
echo "patch-ort-glibc: $lib (+ libedgetvq_fcntl64.so)"
