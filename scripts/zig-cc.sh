#!/usr/bin/env bash
# A C compiler/linker driver for the NativeAOT link (-p:CppCompilerAndLinker=scripts/zig-cc.sh) that links against
# an old glibc: `zig cc -target ARCH-linux-gnu.GLIBC`, with zig's stub libraries of that glibc version, so the
# binary's symbol versions can go no higher (the classic Jetson Nano: JetPack 4.6, glibc 2.27).
#
#   EDGETVQ_GLIBC   the glibc version to link against (default 2.27)
#   EDGETVQ_ZIG     the zig executable (default: <repo>/.cache/zig/zig, fetched by ./build.sh publish --glibc)
#
# The architecture comes from the --target=TRIPLE argument the ILCompiler passes (aarch64 or x86_64). Flags zig's
# driver refuses or that break the link are dropped: --target= and --sysroot= (zig brings its own libc headers and
# stubs), -fuse-ld= (zig links with its own lld), -pie/-Wl,-pie (zig makes a PIE by default for these targets),
# -gz=zlib and the section garbage collection flags; --no-gc-sections keeps the __modules section that NativeAOT's
# startup code finds through __start___modules / __stop___modules.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
zig="${EDGETVQ_ZIG:-$here/../.cache/zig/zig}"
glibc="${EDGETVQ_GLIBC:-2.27}"
[ -x "$zig" ] || { echo "zig-cc: no zig at $zig (./build.sh publish --glibc $glibc fetches it into .cache/zig)" >&2; exit 1; }
arch=aarch64
args=()
for a in "$@"; do
  case "$a" in
    --target=*)
      triple="${a#--target=}"
      arch="${triple%%-*}"
      [ "$arch" = arm64 ] && arch=aarch64 ;;
    --sysroot=*|-fuse-ld=*|-pie|-Wl,-pie|-gz=zlib|-Wl,--discard-all|-Wl,--gc-sections) ;;
    *) args+=("$a") ;;
  esac
done
export ZIG_GLOBAL_CACHE_DIR="${ZIG_GLOBAL_CACHE_DIR:-$here/../.cache/zig-cache}"
exec "$zig" cc -target "$arch-linux-gnu.$glibc" -Wl,--no-gc-sections "${args[@]}"
