#!/usr/bin/env bash
# Installs the EdgeTvq device runtime (Native AOT linux-arm64 build) on a Jetson (JetPack 6 / Ubuntu 22.04).
#
#   sudo ./install.sh [--prefix DIR] [--from DIR] [--enable] [--force]
#
#   --from DIR    the publish output: edgetvq, libonnxruntime.so, ... (default: this script's folder when it holds
#                 edgetvq, as in the tarball cross-build.sh writes; else <repo>/artifacts/publish/linux-arm64)
#   --prefix DIR  install under DIR instead of / (DESTDIR-style, for tests: no user, no systemctl, no root needed)
#   --enable      systemctl enable --now edgetvq (only once `edgetvq serve` exists and a bundle is installed)
#   --force       install even when the binary's architecture differs from this machine's
#
# Installs /opt/edgetvq/{edgetvq,*.so,README.md,update.sh}, /usr/local/bin/edgetvq (symlink),
# /etc/systemd/system/edgetvq.service, /etc/edgetvq/keys/ (trusted signing keys) and /var/lib/edgetvq/{,bundle/}
# (root:edgetvq, 0750). Creates the system
# user edgetvq. Safe to run again: files are replaced atomically, existing bundles and models are left alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix=""
from=""
enable=false
force=false
usage() { sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { usage >&2; exit 2; }; prefix="$2"; shift ;;
    --prefix=*) prefix="${1#--prefix=}" ;;
    --from) [ $# -ge 2 ] || { usage >&2; exit 2; }; from="$2"; shift ;;
    --from=*) from="${1#--from=}" ;;
    --enable) enable=true ;;
    --force) force=true ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$prefix" ]; then
  mkdir -p "$prefix"
  prefix="$(cd "$prefix" && pwd)"
  [ "$prefix" != / ] || prefix=""
fi

if [ -z "$from" ]; then
  if [ -f "$here/edgetvq" ]; then from="$here"; else from="$here/../../artifacts/publish/linux-arm64"; fi
fi
if [ ! -f "$from/edgetvq" ] || [ ! -f "$from/libonnxruntime.so" ]; then
  echo "install.sh: no edgetvq + libonnxruntime.so in $from (run deploy/jetson/cross-build.sh first)" >&2
  exit 1
fi
from="$(cd "$from" && pwd)"

real_install=true
[ -z "$prefix" ] || real_install=false
if $real_install && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo ./install.sh), or use --prefix DIR to install into a folder" >&2
  exit 1
fi

# ELF e_machine of the binary: 183 = aarch64, 62 = x86-64.
machine="$(od -An -tu2 -j18 -N2 "$from/edgetvq" | tr -d ' ')"
case "$machine" in 183) bin_arch=aarch64 ;; 62) bin_arch=x86_64 ;; *) bin_arch="unknown($machine)" ;; esac
if $real_install && ! $force && [ "$bin_arch" != "$(uname -m)" ]; then
  echo "install.sh: $from/edgetvq is $bin_arch, this machine is $(uname -m) (--force to install anyway)" >&2
  exit 1
fi

opt="$prefix/opt/edgetvq"
state="$prefix/var/lib/edgetvq"
unit_dir="$prefix/etc/systemd/system"
bin_dir="$prefix/usr/local/bin"
keys="$prefix/etc/edgetvq/keys"
user=edgetvq

# Copy to a temporary name beside the target, then rename: a running edgetvq keeps its old inode.
put() {
  local src="$1" dst="$2" mode="$3"
  local tmp="$dst.partial.$$"
  cp -- "$src" "$tmp"
  chmod "$mode" "$tmp"
  mv -f -T -- "$tmp" "$dst"
}

mkdir -p "$opt" "$unit_dir" "$bin_dir" "$state/bundle" "$keys"
if $real_install; then
  if ! getent passwd "$user" >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/edgetvq --no-create-home --shell /usr/sbin/nologin \
      --comment "EdgeTvq runtime" "$user"
    echo "install.sh: created system user $user"
  fi
fi

installed=()
for f in "$from"/edgetvq "$from"/*.so "$from"/*.so.*; do
  [ -f "$f" ] || continue
  case "$f" in *.dll|*.exe|*.pdb|*.dbg) continue ;; esac
  put "$f" "$opt/$(basename -- "$f")" 0755
  installed+=("$(basename -- "$f")")
done
for f in README.md update.sh; do
  if [ -f "$here/$f" ]; then
    mode=0644
    [ "$f" != update.sh ] || mode=0755
    put "$here/$f" "$opt/$f" "$mode"
  fi
done
put "$here/edgetvq.service" "$unit_dir/edgetvq.service" 0644
ln -sfn /opt/edgetvq/edgetvq "$bin_dir/edgetvq"

# Trusted signing keys: the runtime loads only bundles signed by one of them (install the signer's KEY.pub.pem here).
chmod 0755 "$keys"

# State: readable by the service's group, writable only by root (update.sh).
chmod 0750 "$state" "$state/bundle"
if $real_install; then
  chown root:"$user" "$state" "$state/bundle"
  find "$state/bundle" -maxdepth 1 -type f -exec chown root:"$user" {} + -exec chmod 0640 {} +
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if $enable; then systemctl enable --now edgetvq.service; fi
  else
    echo "install.sh: systemd is not running here; unit installed but not loaded"
  fi
fi

echo "install.sh: installed ${installed[*]} ($bin_arch) into $opt"
echo "install.sh: unit $unit_dir/edgetvq.service; bundle goes to $state/bundle, encoder to $state/encoder.onnx"
if ! compgen -G "$keys/*.pem" >/dev/null; then
  echo "install.sh: no trusted key in $keys yet: copy the signer's KEY.pub.pem there (edgetvq-pack keygen)"
fi
if $real_install && ! $enable; then
  echo "install.sh: start with: systemctl enable --now edgetvq (needs 'edgetvq serve' and a bundle)"
fi
