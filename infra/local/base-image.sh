#!/usr/bin/env bash
# Build lamina's stand-in for the AWS Lambda base image (public.ecr.aws/lambda/python:3.13)
# in podman's storage, for machines that reach no container registry. Its one name is
# localhost/lamina/lambda-python-standin:3.13 (STANDIN_IMAGE in infra/local/standin_template.py):
# a name that cannot be taken for AWS's image. The podman path builds on it by name:
# infra/local/sam-build.sh gives the image functions BASE_IMAGE=<stand-in> (functions/Dockerfile's
# build argument, through a generated copy of the template) and `sam local` runs the python3.13
# zip functions on it with --invoke-image <Function>=<stand-in> (and --skip-pull-image; SAM
# adds the emulator and the function's layers under /opt).
# Every run first takes any public.ecr.aws/... name off images labelled lamina.standin (older
# runs tagged the stand-in public.ecr.aws/lambda/python:3.13 and :3.13-x86_64), so nothing
# on the machine gives AWS's name to lamina's image. The build is skipped when the image
# exists with the same key (a hash of this script, infra/local/standin/ and the wheel pins),
# so a second run takes a second.
#   1. debootstrap --variant=minbase Debian trixie (python3.13), `podman import` -> ROOTFS
#      (cached as localhost/lamina/trixie-minbase:<hash of the debootstrap parameters>)
#   2. podman build infra/local/standin/Containerfile: /var/lang python with pip, boto3,
#      awslambdaric, /lambda-entrypoint.sh, /var/runtime/bootstrap, the emulator.
# With a real Docker engine (infra/local/engine.sh detect = docker) there is nothing to do:
# the build pulls the real image.
# Usage: infra/local/base-image.sh [VENV] [SAM_VENV]   (defaults: .venv .venv-sam)
set -euo pipefail
# shellcheck source=infra/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

venv="${1:-.venv}"
sam_venv="${2:-.venv-sam}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
aws_image=public.ecr.aws/lambda/python:3.13 # what functions/Dockerfile builds on by default
suite=trixie
mirror="${LAMINA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
include=python3,python3-venv,ca-certificates
work="$LAMINA_ROOT/build/base-image"

if [ "$(detect_engine)" = docker ]; then
  log "a Docker engine answers: the build pulls the real $aws_image"
  exit 0
fi
command -v podman >/dev/null || die "podman is not installed: run infra/local/setup-podman.sh"
[ -x "$venv/bin/python" ] || die "no $venv/bin/python: run \`make install\`"
image="$(PYTHONPATH="$LAMINA_ROOT" "$venv/bin/python" -m infra.local.standin_template image)" \
  || die "cannot read the stand-in's name from infra/local/standin_template.py"
case "$image" in
  localhost/*) ;;
  *) die "the stand-in's name must start with localhost/, not '$image'" ;;
esac

# Older runs named the stand-in public.ecr.aws/lambda/python:3.13 and :3.13-x86_64: take
# every public.ecr.aws/ name off any image labelled lamina.standin (`podman untag` removes
# the name only; the function images built on it keep their layers), and remove the image
# when no name and no image built on it is left.
podman images --filter label=lamina.standin --format '{{.Id}} {{.Repository}}:{{.Tag}}' \
  | while read -r id name; do
    case "$name" in
      public.ecr.aws/*)
        podman untag "$id" "$name" </dev/null || die "podman untag $name failed"
        log "removed the name $name from lamina's stand-in ${id:0:12} (left by an older run)"
        if [ "$(podman image inspect --format '{{len .RepoTags}}' "$id" 2>/dev/null </dev/null)" = 0 ]; then
          podman image rm "$id" </dev/null >/dev/null 2>&1 || true
        fi
        ;;
    esac
  done

# Versions in the stand-in: boto3 as the project venv has it (the AWS image ships one too),
# and the runtime interface client.
boto3_version="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("boto3"))')" \
  || die "boto3 is not installed in $venv: run \`make install\`"
ric_version=4.2.2
rie="$(find "$sam_venv"/lib/python3*/site-packages/samcli/local/rapid -name 'aws-lambda-rie-x86_64' \
  2>/dev/null | head -n1 || true)"
[ -n "$rie" ] || die "no aws-lambda-rie-x86_64 in $sam_venv (SAM CLI ships it): run \`make sam-cli\`"

key="$(
  {
    cat "${BASH_SOURCE[0]}" "$here"/standin/*
    echo "$boto3_version $ric_version $mirror $include"
    sha256sum "$rie" | cut -d' ' -f1
  } | sha256sum | cut -c1-16
)"
current="$(podman image inspect --format '{{ index .Labels "lamina.standin.key" }}' "$image" 2>/dev/null || true)"
if [ "$current" = "$key" ]; then
  log "stand-in $image is up to date (key $key)"
  exit 0
fi
previous="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
if [ -n "$previous" ]; then
  log "rebuilding the stand-in $image (key ${current:-none} -> $key)"
fi

started=$SECONDS
# 1. The root filesystem.
rootkey="$(echo "$suite $mirror $include minbase" | sha256sum | cut -c1-12)"
rootfs="localhost/lamina/$suite-minbase:$rootkey"
if ! podman image exists "$rootfs"; then
  command -v debootstrap >/dev/null || die "debootstrap is not installed: run infra/local/setup-podman.sh"
  [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
  tmp="$(mktemp -d /var/tmp/lamina-rootfs.XXXXXX)"
  trap 'rm -rf "$tmp"' EXIT
  log "debootstrap $suite (minbase + $include) from $mirror"
  debootstrap --variant=minbase --include="$include" "$suite" "$tmp" "$mirror" \
    >"$tmp.log" 2>&1 || {
    tail -n 30 "$tmp.log" >&2
    die "debootstrap $suite failed (log above, full log: $tmp.log)"
  }
  rm -f "$tmp.log"
  # Leave out what an image does not need: apt lists, caches, docs.
  rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/apt/archives/*.deb \
    "$tmp"/usr/share/doc/* "$tmp"/usr/share/man/* "$tmp"/usr/share/info/*
  log "importing the root filesystem as $rootfs"
  tar --numeric-owner -C "$tmp" -c . | podman import --quiet - "$rootfs" >/dev/null \
    || die "podman import failed"
  rm -rf "$tmp"
  trap - EXIT
fi

# 2. The Lambda layout on top.
ctx="$work/context"
rm -rf "$ctx"
mkdir -p "$ctx/wheels" "$ctx/rie"
cp "$here"/standin/* "$ctx/"
install -m 0755 "$rie" "$ctx/rie/aws-lambda-rie"
printf '%s\n' "awslambdaric==$ric_version" "boto3==$boto3_version" >"$ctx/wheels/requirements.txt"
log "downloading awslambdaric==$ric_version boto3==$boto3_version for CPython 3.13"
"$venv/bin/pip" download --quiet --disable-pip-version-check \
  --only-binary=:all: --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
  --python-version 3.13 --implementation cp -d "$ctx/wheels" -r "$ctx/wheels/requirements.txt" \
  2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2) \
  || die "pip download of awslambdaric/boto3 failed (is PyPI reachable?)"
log "building $image (stand-in) from $rootfs"
podman build --quiet --build-arg ROOTFS="$rootfs" --label "lamina.standin.key=$key" \
  --label "lamina.standin=Debian $suite + awslambdaric $ric_version (not the AWS image)" \
  -f "$ctx/Containerfile" -t "$image" "$ctx" >/dev/null || die "podman build of the stand-in failed"
rm -rf "$ctx"
if [ -n "$previous" ]; then
  # The replaced stand-in, unless an image built on it still holds it.
  podman image rm "$previous" >/dev/null 2>&1 || true
fi
size="$(podman image inspect --format '{{.Size}}' "$image")"
log "stand-in $image built in $((SECONDS - started)) s, $((size / 1000000)) MB (key $key)"
