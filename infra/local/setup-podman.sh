#!/usr/bin/env bash
# Make Debian's podman a Docker-compatible engine for SAM CLI on a machine without Docker:
# apt-installs podman, runc and debootstrap when missing, writes
# /etc/containers/containers.conf (runc; ulimits the sandbox allows), then starts
# `podman system service` on $LAMINA_PODMAN_SOCK (default /tmp/lamina-podman.sock).
# Idempotent: a second run changes nothing and returns at once.
# Use afterwards: DOCKER_HOST=unix:///tmp/lamina-podman.sock sam build / sam local invoke ...
set -euo pipefail
# shellcheck source=infra/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ "$(uname -s)" = Linux ] || die "podman setup is for Linux; on macOS/Windows install Docker Desktop"

# 1. Packages (no recommends: rootful podman needs neither slirp4netns nor fuse-overlayfs).
missing=()
for cmd_pkg in podman:podman runc:runc debootstrap:debootstrap iptables:iptables; do
  command -v "${cmd_pkg%%:*}" >/dev/null 2>&1 || missing+=("${cmd_pkg##*:}")
done

# 2. containers.conf: runc (crun fails on this kernel's cgroup layout) and default ulimits
# no higher than the hard limits this process has (podman's defaults exceed what the
# sandbox lets a process raise, and every container then fails to start).
hard_nofile="$(ulimit -Hn)"
if [ "$hard_nofile" = unlimited ] || [ "$hard_nofile" -gt 65536 ]; then hard_nofile=65536; fi
hard_nproc="$(ulimit -Hu)"
if [ "$hard_nproc" = unlimited ] || [ "$hard_nproc" -gt 4096 ]; then hard_nproc=4096; fi
want="$(
  cat <<CONF
# Written by lamina infra/local/setup-podman.sh: podman as a Docker-compatible engine.
[containers]
default_ulimits = ["nofile=${hard_nofile}:${hard_nofile}","nproc=${hard_nproc}:${hard_nproc}"]

[engine]
runtime = "runc"
CONF
)"
conf=/etc/containers/containers.conf
if [ ${#missing[@]} -eq 0 ] && [ "$(cat "$conf" 2>/dev/null)" = "$want" ] \
  && socket_answers "$LAMINA_PODMAN_SOCK"; then
  exit 0 # installed, configured and answering: nothing to do
fi

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get install, /etc/containers, rootful podman): sudo $0"

if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
  log "installing ${missing[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

conf_changed=false
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
  if [ -f "$conf" ] && ! grep -q 'lamina infra/local/setup-podman.sh' "$conf"; then
    cp "$conf" "$conf.lamina-backup"
    log "kept the previous $conf as $conf.lamina-backup"
  fi
  mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" >"$conf"
  conf_changed=true
  log "wrote $conf (runc, nofile=${hard_nofile}, nproc=${hard_nproc})"
fi

# 3. The API service.
if $conf_changed; then
  "$(dirname "${BASH_SOURCE[0]}")/start-podman.sh" --restart
else
  "$(dirname "${BASH_SOURCE[0]}")/start-podman.sh"
fi
