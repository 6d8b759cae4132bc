#!/usr/bin/env bash
# Makes TorchSharp 0.107's libLibTorchSharp.so load on systems whose libstdc++ predates GCC 13 (Debian 12, Ubuntu 22.04).
#
#   scripts/patch-torchsharp.sh SOURCE.so OUT_DIR
#
# writes OUT_DIR/libLibTorchSharp.so (patched copy; SOURCE is not modified: it usually lies in the NuGet cache) and
# OUT_DIR/libedgetvq_glibcxx_shim.so. The build runs it (Directory.Build.targets, target EdgeTvqPatchTorchSharp) for
# every project that copies TorchSharp's native library, and copies the two files in place of the package's.
#
# Why: libLibTorchSharp.so needs GLIBCXX_3.4.32 for one symbol, std::ios_base_library_init() (GCC 13 emits a call to
# it from <iostream>); older libstdc++ lacks that version and the function, so the loader refuses the library.
# libtorch's own libraries need only GLIBCXX_3.4.26. The patch (docs/adamerging.md, toolchain notes):
#   1. marks the GLIBCXX_3.4.32 requirement in .gnu.version_r weak (vna_flags |= VER_FLG_WEAK): a missing weak
#      version is a warning for the loader, not an error;
#   2. clears the symbol's version (patchelf --clear-symbol-version), so it binds to any definition;
#   3. adds a shim library that defines it as a no-op (patchelf --add-needed; found through the library's
#      RUNPATH $ORIGIN). Where libstdc++ has the real function (GCC 13+), it is already loaded and wins the lookup.
# Installs patchelf with apt when it is missing (as root or with sudo). Idempotent; exits non-zero on any failure.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 SOURCE.so OUT_DIR" >&2; exit 2; }
src="$1" out="$2"
[ -f "$src" ] || { echo "patch-torchsharp: $src not found" >&2; exit 1; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lib="$out/libLibTorchSharp.so" shim="$out/libedgetvq_glibcxx_shim.so"

if ! command -v patchelf >/dev/null; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "patch-torchsharp: installing patchelf" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends patchelf >/dev/null 2>&1 \
    || { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends patchelf >/dev/null; }
fi
compiler="$(command -v g++ || command -v clang++ || command -v c++ || true)"
[ -n "$compiler" ] || { echo "patch-torchsharp: no C++ compiler (g++ or clang++) for the shim library" >&2; exit 1; }
python="$(command -v python3 || true)"
[ -n "$python" ] || { echo "patch-torchsharp: python3 is needed to edit the ELF version table" >&2; exit 1; }

mkdir -p "$out"
tmp="$(mktemp -d "$out/.patch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# The shim: std::ios_base_library_init() as a no-op (iostreams of older libstdc++ initialise themselves).
printf 'namespace std { void ios_base_library_init() {} }\n' > "$tmp/shim.cpp"
"$compiler" -shared -fPIC -O2 -o "$tmp/libedgetvq_glibcxx_shim.so" "$tmp/shim.cpp"

cp "$src" "$tmp/libLibTorchSharp.so"
chmod u+w "$tmp/libLibTorchSharp.so"
"$python" "$here/elf_weak_version.py" "$tmp/libLibTorchSharp.so" GLIBCXX_3.4.32
patchelf --clear-symbol-version _ZSt21ios_base_library_initv "$tmp/libLibTorchSharp.so"
if ! patchelf --print-needed "$tmp/libLibTorchSharp.so" | grep -qx libedgetvq_glibcxx_shim.so; then
  patchelf --add-needed libedgetvq_glibcxx_shim.so "$tmp/libLibTorchSharp.so"
fi
mv -f "$tmp/libedgetvq_glibcxx_shim.so" "$shim"
mv -f "$tmp/libLibTorchSharp.so" "$lib"
echo "patch-torchsharp: $lib (+ $(basename "$shim"))"
