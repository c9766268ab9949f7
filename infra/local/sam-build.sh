#!/usr/bin/env bash
# `sam build` of the template on the local engine (run it through `infra/local/engine.sh
# run`): the image functions (Dockerfile) and, through SAM's makefile builder, the lamina
# layer and the zip functions (layers/lamina/Makefile, functions/<fn>/Makefile).
# With podman, the image functions build FROM lamina's stand-in base image
# (localhost/lamina/lambda-python-standin:3.13, infra/local/base-image.sh), not from AWS's
# name: SAM CLI takes Docker build args only from the template (Metadata.DockerBuildArgs),
# so `python -m infra.local.standin_template template` writes .template.standin.yaml
# (git-ignored, at the repository root so that DockerContext and CodeUri paths resolve as in
# template.yaml), template.yaml with BASE_IMAGE=<stand-in> in every image function's
# DockerBuildArgs, and `sam build --template-file .template.standin.yaml` builds it. The
# output is .aws-sam/build/template.yaml either way. With Docker, template.yaml as it is.
# Then it prints the sizes and does housekeeping SAM does not do:
# - `sam local invoke` / `start-api` run an image function from "<repo>:rapid-<arch>": the
#   function image plus the emulator, rebuilt on every run (cached by the engine). Images
#   left untagged by rebuilds, function and rapid images (label lamina.image=embed), are
#   pruned; the dependency stages (deps, sql) are kept (the build cache of the pip installs).
# Usage: infra/local/sam-build.sh SAM [sam build options...]
#   (LAMINA_VENV: the project venv whose python runs the template transform; default .venv)
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
template=()
if [ "$cli" = podman ]; then
  for arg in "$@"; do
    case "$arg" in
      -t | --template | --template-file | --template=* | --template-file=*)
        die "with podman, sam-build.sh builds .template.standin.yaml: no $arg" ;;
    esac
  done
  python="${LAMINA_VENV:-.venv}/bin/python"
  [ -x "$python" ] || die "no $python: run \`make install\` (or set LAMINA_VENV)"
  standin="$LAMINA_ROOT/.template.standin.yaml"
  PYTHONPATH="$LAMINA_ROOT" "$python" -m infra.local.standin_template template \
    --template "$LAMINA_ROOT/template.yaml" --out "$standin" \
    || die "cannot write $standin (output above)"
  template=(--template-file "$standin")
fi
SAM_CLI_TELEMETRY=0 "$sam" build "${template[@]}" "$@" >&2 || die "sam build failed (output above)"
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
