#!/usr/bin/env bash
# The container engine of the local SAM targets.
#   engine.sh detect       print "docker" (a real Docker engine answers: it is used, and the
#                          real AWS base image is pulled) or "podman" (Debian's podman as a
#                          Docker-compatible engine + the stand-in base image)
#   engine.sh setup        make the engine ready (podman: infra/local/setup-podman.sh)
#   engine.sh run CMD...   setup, then run CMD with DOCKER_HOST pointing at the engine
#                          (podman: unix:///tmp/lamina-podman.sock) and SAM_CLI_TELEMETRY=0
#   engine.sh env          print the environment CMD gets, as shell `export` lines
# LAMINA_ENGINE=docker|podman forces the choice.
set -euo pipefail
# shellcheck source=infra/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

engine="$(detect_engine)"
setup() {
  if [ "$engine" = podman ]; then
    "$(dirname "${BASH_SOURCE[0]}")/setup-podman.sh"
  elif ! docker info >/dev/null 2>&1; then
    die "LAMINA_ENGINE=docker but \`docker info\` fails: is the Docker engine running?"
  fi
}
environment() {
  echo "export SAM_CLI_TELEMETRY=0"
  if [ "$engine" = podman ]; then echo "export DOCKER_HOST=$LAMINA_PODMAN_URL"; fi
}

case "${1:-}" in
  detect) echo "$engine" ;;
  setup) setup ;;
  env) environment ;;
  run)
    shift
    [ $# -gt 0 ] || die "usage: engine.sh run CMD [ARGS...]"
    setup
    eval "$(environment)"
    exec "$@"
    ;;
  *) die "usage: engine.sh detect|setup|env|run CMD..." ;;
esac
