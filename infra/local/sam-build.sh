#!/usr/bin/env bash
# `sam build` of the template on the local engine (run it through `infra/local/engine.sh
# run`): the image functions (Dockerfile) and, through SAM's makefile builder, the lamina
# layer and the zip functions (layers/lamina/Makefile, functions/<fn>/Makefile). Then it
# prints the sizes and does housekeeping SAM does not do:
# - `sam local invoke` / `start-api` run an image function from "<repo>:rapid-<arch>": the
#   function image plus the emulator, rebuilt on every run (cached by the engine). Images
#   left untagged by rebuilds, function and rapid images (label lamina.image=embed), are
#   pruned; the deps stage is kept (it is the build cache of the pip install).
# Usage: infra/local/sam-build.sh SAM [sam build options...]
set -euo pipefail
# shellcheck source=infra/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ $# -ge 1 ] || die "usage: sam-build.sh SAM [options...]"
sam="$1"
shift
[ -n "${DOCKER_HOST:-}" ] || [ "$(detect_engine)" = docker ] \
  || die "DOCKER_HOST is not set: run through infra/local/engine.sh run"
cli=docker
[ "$(detect_engine)" = podman ] && cli=podman

started=$SECONDS
SAM_CLI_TELEMETRY=0 "$sam" build "$@" >&2 || die "sam build failed (output above)"
built=.aws-sam/build/template.yaml
[ -f "$built" ] || die "sam build wrote no $built"

grep -E '^\s+ImageUri:\s' "$built" | awk '{print $2}' | sort -u | while read -r image; do
  size="$("$cli" image inspect --format '{{.Size}}' "$image" 2>/dev/null)" \
    || die "sam build did not produce the image $image"
  log "$image: $((size / 1000000)) MB"
done
for dir in .aws-sam/build/*/; do
  [ -d "$dir" ] && log "$(basename "$dir") (zip): $(du -sk "$dir" | cut -f1) KB unzipped"
done
"$cli" image prune --force --filter label=lamina.image=embed >/dev/null 2>&1 || true
log "sam build done in $((SECONDS - started)) s"
