#!/usr/bin/env bash
# Start `podman system service` on $LAMINA_PODMAN_SOCK (default /tmp/lamina-podman.sock) in
# the background unless it already answers. --restart stops the one this script started
# (pid in /tmp/lamina-podman.pid) first, e.g. after containers.conf changed.
# Log: /tmp/lamina-podman.log.
set -euo pipefail
# shellcheck source=infra/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

command -v podman >/dev/null || die "podman is not installed: run infra/local/setup-podman.sh"

if [ "${1:-}" = --restart ] && [ -f "$LAMINA_PODMAN_PIDFILE" ]; then
  pid="$(cat "$LAMINA_PODMAN_PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    log "restarting the podman service (pid $pid)"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$LAMINA_PODMAN_PIDFILE" "$LAMINA_PODMAN_SOCK"
fi

if socket_answers "$LAMINA_PODMAN_SOCK"; then
  exit 0
fi
rm -f "$LAMINA_PODMAN_SOCK"
log "starting podman system service on $LAMINA_PODMAN_URL (log: $LAMINA_PODMAN_LOG)"
# setsid + nohup: the service outlives make, pytest and the shell that started it.
setsid nohup podman system service --time=0 "$LAMINA_PODMAN_URL" \
  >>"$LAMINA_PODMAN_LOG" 2>&1 </dev/null &
echo $! >"$LAMINA_PODMAN_PIDFILE"
for _ in $(seq 100); do
  if socket_answers "$LAMINA_PODMAN_SOCK"; then
    log "podman service is up (pid $(cat "$LAMINA_PODMAN_PIDFILE"))"
    exit 0
  fi
  kill -0 "$(cat "$LAMINA_PODMAN_PIDFILE")" 2>/dev/null || break
  sleep 0.2
done
tail -n 20 "$LAMINA_PODMAN_LOG" >&2 || true
die "podman system service did not answer on $LAMINA_PODMAN_SOCK within 20 s (log above)"
