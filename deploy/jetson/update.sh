#!/usr/bin/env bash
# Adds one task to the installed bundle in the field: the new <task>.tvqt and the new manifest.json that
# `edgetvq-pack add-task` wrote on the workstation (into its copy of the same bundle).
#
#   sudo ./update.sh [--bundle DIR] [--restart] [--force] TASK.tvqt MANIFEST.json
#
#   --bundle DIR  the installed bundle (default /var/lib/edgetvq/bundle)
#   --restart     systemctl try-restart edgetvq afterwards (the runtime reads the manifest at start)
#   --force       replace a task file of the same name with different content, or accept a manifest that drops
#                 files the installed one lists (both are not what add-task produces)
#
# Before touching the bundle it checks that MANIFEST.json is an intact edgetvq manifest (xxHash64 checksum) of the
# same bundle (bundleId), that it lists TASK.tvqt with that file's size and SHA-256, that the file's header carries
# the bundle id, and that every other file it lists is in the bundle with the listed size. Then it copies the task
# file to <name>.partial in the bundle folder, flushes it and renames it into place, keeps the old manifest as
# manifest.json.<UTC time>.bak, and replaces manifest.json the same way. Readers ignore unlisted files, so a
# crash at any point leaves the old or the new bundle, never a mix. Undo: mv manifest.json.<time>.bak manifest.json.
# Needs python3 for the full checks (present on JetPack); without it, the checks fall back to grep + sha256sum.
set -euo pipefail

bundle=/var/lib/edgetvq/bundle
restart=false
force=false
usage() { sed -n '2,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) [ $# -ge 2 ] || { usage >&2; exit 2; }; bundle="$2"; shift ;;
    --bundle=*) bundle="${1#--bundle=}" ;;
    --restart) restart=true ;;
    --force) force=true ;;
    -h|--help) usage; exit 0 ;;
    --) shift; args+=("$@"); break ;;
    -*) echo "update.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *) args+=("$1") ;;
  esac
  shift
done
[ ${#args[@]} -eq 2 ] || { usage >&2; exit 2; }
task_file="${args[0]}"
new_manifest="${args[1]}"
die() { echo "update.sh: $*" >&2; exit 1; }

[ -f "$task_file" ] || die "no such task file: $task_file"
[ -f "$new_manifest" ] || die "no such manifest: $new_manifest"
[ -d "$bundle" ] || die "no bundle folder: $bundle"
[ -f "$bundle/manifest.json" ] || die "$bundle has no manifest.json (install a whole bundle by copying it, see README.md)"
name="$(basename -- "$task_file")"
case "$name" in
  *.tvqt) ;;
  *) die "$name is not a task file (<task>.tvqt)" ;;
esac
[ "$(realpath -- "$task_file")" != "$(realpath -m -- "$bundle/$name")" ] || die "$task_file is already the bundle's file; pass the new copy"

# One update at a time.
if command -v flock >/dev/null; then
  exec 9>"$bundle/.update.lock"
  flock -n 9 || die "another update.sh is running on $bundle"
fi

size="$(stat -c %s -- "$task_file")"
sha="$(sha256sum -- "$task_file" | cut -d' ' -f1)"

# Header: magic 89 54 56 51 0D 0A 1A 0A, byte 10 = file kind (2 = task), bytes 16..31 = bundle id.
magic="$(od -An -tx1 -N8 -- "$task_file" | tr -d ' \n')"
[ "$magic" = 895456510d0a1a0a ] || die "$name does not start with the bundle file magic"
kind="$(od -An -tu1 -j10 -N1 -- "$task_file" | tr -d ' \n')"
[ "$kind" = 2 ] || die "$name is not a task file (file kind $kind)"
file_bundle_id="$(od -An -tx1 -j16 -N16 -- "$task_file" | tr -d ' \n')"

python=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import json, hashlib' 2>/dev/null; then python="$p"; break; fi
done

if [ -n "$python" ]; then
  "$python" - "$bundle" "$new_manifest" "$name" "$size" "$sha" "$file_bundle_id" "$force" <<'PY'
import json, os, struct, sys

bundle, new_path, name, size, sha, file_bundle_id, force = sys.argv[1:]
size, force = int(size), force == "true"

def fail(msg):
    print(f"update.sh: {msg}", file=sys.stderr)
    sys.exit(1)

M = (1 << 64) - 1
P1, P2, P3, P4, P5 = (11400714785074694791, 14029467366897019727, 1609587929392839161,
                      9650029242287828579, 2870177450012600261)

def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M

def rnd(acc, lane):
    return (rotl((acc + lane * P2) & M, 31) * P1) & M

def xxh64(data, seed=0):
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M, (seed + P2) & M, seed & M, (seed - P1) & M]
        while i + 32 <= n:
            lanes = struct.unpack_from("<4Q", data, i)
            v = [rnd(v[k], lanes[k]) for k in range(4)]
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for x in v:
            h = ((h ^ rnd(0, x)) * P1 + P4) & M
    else:
        h = (seed + P5) & M
    h = (h + n) & M
    while i + 8 <= n:
        h = (rotl(h ^ rnd(0, struct.unpack_from("<Q", data, i)[0]), 27) * P1 + P4) & M
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ ((struct.unpack_from("<I", data, i)[0] * P1) & M), 23) * P2 + P3) & M
        i += 4
    while i < n:
        h = (rotl(h ^ ((data[i] * P5) & M), 11) * P1) & M
        i += 1
    h ^= h >> 33
    h = (h * P2) & M
    h ^= h >> 29
    h = (h * P3) & M
    h ^= h >> 32
    return h

assert xxh64(b"") == 0xEF46DB3751D8E999

def load(path, what):
    raw = open(path, "rb").read()
    try:
        m = json.loads(raw)
    except ValueError as e:
        fail(f"{what} {path} is not JSON: {e}")
    if not isinstance(m, dict) or m.get("format") != "edgetvq-bundle":
        fail(f"{what} {path} is not an edgetvq bundle manifest")
    key = b'"checksum": "'
    at = raw.rfind(key)
    if at < 0:
        fail(f"{what} {path} has no checksum")
    digits = raw[at + len(key):at + len(key) + 16]
    zeroed = raw[:at + len(key)] + b"0" * 16 + raw[at + len(key) + 16:]
    if digits.decode("ascii", "replace") != f"{xxh64(zeroed):016x}":
        fail(f"{what} {path}: checksum mismatch (damaged or edited)")
    return m

new = load(new_path, "new manifest")
old = load(os.path.join(bundle, "manifest.json"), "installed manifest")
if new.get("bundleId") != old.get("bundleId"):
    fail(f"new manifest is for bundle {new.get('bundleId')}, the installed bundle is {old.get('bundleId')}")
if file_bundle_id != new.get("bundleId"):
    fail(f"{name} belongs to bundle {file_bundle_id}, the manifest to {new.get('bundleId')}")
for k in ("scheme", "bits", "baseBits", "offsetBits", "errorCorrection", "pretrained"):
    if new.get(k) != old.get(k):
        fail(f"new manifest changes '{k}': not an add-task of the installed bundle")

def files(m):
    out = {}
    if m.get("base"):
        out[m["base"]["file"]] = m["base"]
    for t in m.get("tasks", []):
        out[t["file"]] = t
    return out

new_files, old_files = files(new), files(old)
entry = next((t for t in new.get("tasks", []) if t.get("file") == name), None)
if entry is None:
    fail(f"new manifest does not list {name}")
if entry.get("bytes") != size:
    fail(f"{name} has {size} bytes, the manifest says {entry.get('bytes')}")
if str(entry.get("sha256", "")).lower() != sha:
    fail(f"{name} SHA-256 {sha} differs from the manifest's {entry.get('sha256')}")
dropped = sorted(set(old_files) - set(new_files))
if dropped and not force:
    fail(f"new manifest no longer lists {', '.join(dropped)} (--force to accept)")
if name in old_files and old_files[name].get("sha256") != entry.get("sha256") and not force:
    fail(f"the installed bundle already has a different {name} (--force to replace it)")
for f, e in sorted(new_files.items()):
    if f == name:
        continue
    p = os.path.join(bundle, f)
    if not os.path.isfile(p):
        fail(f"new manifest lists {f}, which is not in {bundle}")
    if os.path.getsize(p) != e.get("bytes"):
        fail(f"{p} has {os.path.getsize(p)} bytes, the new manifest says {e.get('bytes')}")
print(f"update.sh: verified {name} ({size} bytes, sha256 {sha[:16]}...) against the new manifest of bundle {new['bundleId']} "
      f"({len(new.get('tasks', []))} tasks, was {len(old.get('tasks', []))})")
PY
else
  echo "update.sh: python3 not found; checking with grep (no manifest checksum, no size check of other files)" >&2
  id_new="$(grep -o '"bundleId": *"[0-9a-f]*"' "$new_manifest" | head -n 1 | grep -o '[0-9a-f]\{32\}' || true)"
  id_old="$(grep -o '"bundleId": *"[0-9a-f]*"' "$bundle/manifest.json" | head -n 1 | grep -o '[0-9a-f]\{32\}' || true)"
  { [ -n "$id_new" ] && [ "$id_new" = "$id_old" ]; } || die "new manifest's bundleId '$id_new' differs from the installed '$id_old'"
  [ "$file_bundle_id" = "$id_new" ] || die "$name belongs to bundle $file_bundle_id, the manifest to $id_new"
  # The manifest writer puts a file entry's "file", "bytes" and "sha256" on consecutive lines.
  entry="$(grep -A2 "\"file\": *\"$name\"" "$new_manifest" || true)"
  [ -n "$entry" ] || die "new manifest does not list $name"
  grep -q "\"bytes\": *$size," <<<"$entry" || die "new manifest does not list $name with its size $size"
  grep -q "\"sha256\": *\"$sha\"" <<<"$entry" || die "new manifest does not list $name with its SHA-256 $sha"
  if [ -f "$bundle/$name" ] && ! $force && [ "$(sha256sum -- "$bundle/$name" | cut -d' ' -f1)" != "$sha" ]; then
    die "the installed bundle already has a different $name (--force to replace it)"
  fi
fi

# Ownership of what we write: like the existing manifest (root:edgetvq 0640 after install.sh).
owner="$(stat -c %u:%g -- "$bundle/manifest.json")"
mode="$(stat -c %a -- "$bundle/manifest.json")"
place() { # place SRC NAME: copy to NAME.partial in the bundle, flush, rename over NAME
  local src="$1" dst="$bundle/$2"
  cp -- "$src" "$dst.partial"
  chmod "$mode" "$dst.partial"
  if [ "$(id -u)" -eq 0 ]; then chown "$owner" "$dst.partial"; fi
  sync -- "$dst.partial"
  mv -f -T -- "$dst.partial" "$dst"
  sync -- "$bundle"
}

if [ -f "$bundle/$name" ] && [ "$(sha256sum -- "$bundle/$name" | cut -d' ' -f1)" = "$sha" ]; then
  echo "update.sh: $name already in place"
else
  place "$task_file" "$name"
  echo "update.sh: installed $bundle/$name"
fi

if cmp -s -- "$new_manifest" "$bundle/manifest.json"; then
  echo "update.sh: manifest.json already up to date"
else
  backup="manifest.json.$(date -u +%Y%m%dT%H%M%SZ).bak"
  cp -p -- "$bundle/manifest.json" "$bundle/$backup"
  place "$new_manifest" manifest.json
  echo "update.sh: replaced manifest.json (old one kept as $bundle/$backup)"
fi

if $restart; then
  systemctl try-restart edgetvq.service
  echo "update.sh: restarted edgetvq (if it was running)"
fi
