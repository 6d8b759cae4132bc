#!/usr/bin/env bash
# Builds the dense zoo (rendered NYUv2-style rooms; dilated ImageNet ResNet-18 with segmentation, depth and
# normals heads; see bench/densezoo/README.md).
#   bench/densezoo/build.sh [--quick|--full|--dev] [--out DIR] [--force]
# Default: --quick into artifacts/zoo/dense-quick/ (--full: dense-full, --dev: dense-dev). Skips the build when
# that folder's manifest.json says it is complete for the same size and code version. Installs missing Debian
# packages (needs root or sudo), fetches the ResNet-18 and photos (bench/rgbzoo/fetch_resnet18.sh) and the
# Middlebury Aloe pair (fetch_data.sh) into .cache/.
# Environment: ZOO_NICE (niceness of the build, default 10), DENSEZOO_THREADS (processes/threads, default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python=/usr/bin/python3
apt_packages=(python3-torch python3-onnx python3-numpy python3-torchvision python3-pil python3-skimage
              libopenblas0-pthread dataset-fashion-mnist)

usage() { sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

size=quick out="" force=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) size=quick ;;
    --full) size=full ;;
    --dev) size=dev ;;
    --out) out="${2:?--out needs a value}"; shift ;;
    --out=*) out="${1#*=}" ;;
    --force) force=(--force) ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/densezoo/build.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
args=(--size "$size")
[ -n "$out" ] && args+=(--out "$out")

if [ ${#force[@]} -eq 0 ] && [ -x "$python" ] && "$python" "$here/build_densezoo.py" "${args[@]}" --check 2>/dev/null; then
  echo "dense zoo ($size): up to date"
  exit 0
fi

command -v npm >/dev/null || apt_packages+=(npm)
"$here/../../scripts/install-packages.sh" "${apt_packages[@]}"
"$python" -c "import torch, torchvision, onnx, numpy, PIL, skimage" \
  || { echo "bench/densezoo/build.sh: $python cannot import torch, torchvision, onnx, numpy, PIL and skimage" >&2; exit 1; }

"$here/../rgbzoo/fetch_resnet18.sh"
"$here/fetch_data.sh"
exec nice -n "${ZOO_NICE:-10}" "$python" "$here/build_densezoo.py" "${args[@]}" "${force[@]}"
