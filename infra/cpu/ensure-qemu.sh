#!/usr/bin/env bash
# Install QEMU user-mode emulation (Debian's qemu-user) when qemu-x86_64 is missing: the
# int8 portability tests run ONNX Runtime on an emulated AVX2-only CPU with it
# (tests/cpu/test_int8_portability.py). Idempotent; needs root and apt-get.
set -euo pipefail
command -v qemu-x86_64 >/dev/null 2>&1 && exit 0
[ "$(id -u)" -eq 0 ] || { echo "run as root, or: apt-get install qemu-user" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "apt-get not found: install qemu-user by hand" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || { echo "apt-get update failed" >&2; exit 1; }
apt-get install -y -qq --no-install-recommends qemu-user >/dev/null \
  || { echo "apt-get install qemu-user failed" >&2; exit 1; }
command -v qemu-x86_64 >/dev/null
