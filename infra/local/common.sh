# Shared helpers of the infra/local scripts (sourced, not run).
# shellcheck shell=bash disable=SC2034  # variables for the scripts that source this file

LAMINA_PODMAN_SOCK="${LAMINA_PODMAN_SOCK:-/tmp/lamina-podman.sock}"
LAMINA_PODMAN_URL="unix://${LAMINA_PODMAN_SOCK}"
LAMINA_PODMAN_PIDFILE="${LAMINA_PODMAN_SOCK%.sock}.pid"
LAMINA_PODMAN_LOG="${LAMINA_PODMAN_SOCK%.sock}.log"
LAMINA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '[lamina-local] %s\n' "$*" >&2; }
die() {
  printf '[lamina-local] ERROR: %s\n' "$*" >&2
  exit 1
}

# True when a Docker-API engine answers GET /_ping on the unix socket $1.
socket_answers() {
  [ -S "$1" ] || return 1
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(3)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
sys.exit(0 if data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n")[0] else 1)
PY
}

# Which engine the local targets use: "docker" when a real Docker engine answers the docker
# client (then the real AWS base image is pulled), else "podman" (Debian's podman, the
# stand-in base image). LAMINA_ENGINE=docker|podman forces one.
detect_engine() {
  case "${LAMINA_ENGINE:-}" in
    docker | podman)
      echo "$LAMINA_ENGINE"
      return
      ;;
    "") ;;
    *) die "LAMINA_ENGINE must be docker or podman, not '${LAMINA_ENGINE}'" ;;
  esac
  if [ "${DOCKER_HOST:-}" != "$LAMINA_PODMAN_URL" ] && command -v docker >/dev/null 2>&1 \
    && docker info >/dev/null 2>&1 \
    && ! docker version 2>/dev/null | grep -qi podman; then
    echo docker
  else
    echo podman
  fi
}
