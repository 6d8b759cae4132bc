#!/usr/bin/env bash
# Checks that an ELF binary runs on a target's C library: prints the highest GLIBC_x.y symbol version it requires
# and exits non-zero when that is above MAX (default 2.35: Ubuntu 22.04 / JetPack 6). By default the shared
# libraries in the binary's folder (libonnxruntime.so, ...) are checked too; GLIBCXX/CXXABI (libstdc++) needs are
# printed for information, and checked too when --glibcxx is given.
#
#   scripts/check-glibc.sh [--only] [--glibcxx MAXCXX] BINARY [MAX]
#     --only              check BINARY alone, not the *.so files beside it
#     --glibcxx MAXCXX    also fail when a file needs GLIBCXX above MAXCXX (3.4.25: GCC 8, Ubuntu 18.04 / JetPack 4)
#
# Exit status: 0 all within MAX, 1 something requires a newer glibc, 2 usage or tool error.
# Reads the .gnu.version_r section (what the dynamic loader checks) with readelf, which reads ELF files of any
# architecture (x86-64, aarch64); weak version needs are not requirements and are skipped.
set -euo pipefail

only=false
maxcxx=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only=true; shift ;;
    --glibcxx) [ $# -ge 2 ] || { echo "check-glibc: --glibcxx needs a version" >&2; exit 2; }; maxcxx="$2"; shift 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
fi
binary="$1"
max="${2:-2.35}"
[[ "$max" =~ ^[0-9]+\.[0-9]+$ ]] || { echo "check-glibc: MAX must look like 2.35, not '$max'" >&2; exit 2; }
[ -z "$maxcxx" ] || [[ "$maxcxx" =~ ^3\.4\.[0-9]+$ ]] || { echo "check-glibc: MAXCXX must look like 3.4.25, not '$maxcxx'" >&2; exit 2; }
[ -f "$binary" ] || { echo "check-glibc: no such file: $binary" >&2; exit 2; }

readelf_tool=""
for t in readelf aarch64-linux-gnu-readelf llvm-readelf; do
  if command -v "$t" >/dev/null; then readelf_tool="$t"; break; fi
done
[ -n "$readelf_tool" ] || { echo "check-glibc: readelf not found (apt-get install binutils)" >&2; exit 2; }

# Highest version of a family (GLIBC, GLIBCXX, CXXABI) in a file's version needs, empty when there is none.
highest() {
  local file="$1" family="$2"
  "$readelf_tool" -V -W "$file" 2>/dev/null \
    | awk -v fam="$family" '
        /Version needs section/ { inneeds = 1; next }
        /^Version (symbols|definition) section/ { inneeds = 0 }
        inneeds && $0 ~ /Name: / && $0 !~ /Flags: WEAK/ {
          for (i = 1; i <= NF; i++) if ($i == "Name:") name = $(i + 1)
          if (index(name, fam "_") == 1) { v = substr(name, length(fam) + 2); if (v ~ /^[0-9.]+$/) print v }
        }' \
    | sort -V | tail -n 1
}

# version_le A B: A <= B in version order.
version_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]; }

files=("$binary")
if ! $only; then
  dir="$(dirname -- "$binary")"
  for f in "$dir"/*.so "$dir"/*.so.*; do
    if [ -f "$f" ] && [ "$(realpath -- "$f")" != "$(realpath -- "$binary")" ]; then files+=("$f"); fi
  done
fi

status=0
for f in "${files[@]}"; do
  head -c 4 -- "$f" | grep -q 'ELF' || { echo "check-glibc: not an ELF file: $f" >&2; exit 2; }
  arch="$("$readelf_tool" -h -W "$f" | awk -F: '/Machine:/ { gsub(/^ +/, "", $2); print $2 }')"
  glibc="$(highest "$f" GLIBC)"
  info=""
  cxx="$(highest "$f" GLIBCXX)"
  [ -z "$cxx" ] || info+=", GLIBCXX_$cxx"
  abi="$(highest "$f" CXXABI)"
  [ -z "$abi" ] || info+=", CXXABI_$abi"
  if [ -z "$glibc" ]; then
    verdict="ok (no GLIBC version needs)"
  elif version_le "$glibc" "$max"; then
    verdict="ok (<= $max)"
  else
    verdict="TOO NEW (> $max)"
    status=1
  fi
  if [ -n "$maxcxx" ] && [ -n "$cxx" ] && ! version_le "$cxx" "$maxcxx"; then
    verdict+=", GLIBCXX_$cxx TOO NEW (> $maxcxx)"
    status=1
  fi
  printf '%s [%s]: GLIBC_%s %s%s\n' "$f" "$arch" "${glibc:-none}" "$verdict" "${info:+ (info: ${info#, })}"
done
exit "$status"
