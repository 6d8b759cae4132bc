#!/usr/bin/env bash
# Installs a signed field update of the bundle: a thin wrapper over `edgetvq update`, which does every check and the
# crash-safe writes natively (no python), then optionally restarts the service.
#
#   sudo ./update.sh [--bundle DIR] [--restart] [--force] TASK.tvqt MANIFEST.json   add a task
#   sudo ./update.sh [--bundle DIR] [--restart] --remove MANIFEST.json              remove a task
#   sudo ./update.sh [--bundle DIR] [--restart] --rollback                          back to the previous generation
#
#   --bundle DIR  the installed bundle (default /var/lib/edgetvq/bundle)
#   --restart     systemctl try-restart edgetvq afterwards
#   --force       replace a task file of the same name with different content
# The signature (MANIFEST.json.sig next to MANIFEST.json) must be by a key in /etc/edgetvq/keys. See README.md,
# section 4, and docs/bundle-format.md, section 9.
set -euo pipefail

edgetvq=/opt/edgetvq/edgetvq
[ -x "$edgetvq" ] || edgetvq="$(command -v edgetvq || true)"
[ -n "$edgetvq" ] || { echo "update.sh: edgetvq not found (install it with install.sh)" >&2; exit 1; }
usage() { sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

action=add
restart=false
opts=()
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) [ $# -ge 2 ] || { usage >&2; exit 2; }; opts+=(--bundle "$2"); shift ;;
    --bundle=*) opts+=(--bundle "${1#--bundle=}") ;;
    --restart) restart=true ;;
    --force) opts+=(--force) ;;
    --remove) action=remove ;;
    --rollback) action=rollback ;;
    -h|--help) usage; exit 0 ;;
    --) shift; args+=("$@"); break ;;
    -*) echo "update.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *) args+=("$1") ;;
  esac
  shift
done
case "$action:${#args[@]}" in
  add:2|remove:1|rollback:0) ;;
  *) usage >&2; exit 2 ;;
esac

"$edgetvq" update "$action" "${args[@]}" "${opts[@]}"
if $restart && command -v systemctl >/dev/null; then
  systemctl try-restart edgetvq.service
  echo "update.sh: edgetvq restarted on the new generation"
fi
