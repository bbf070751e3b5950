#!/bin/bash
# setup.sh - install what scmi-dt needs on a fresh Debian machine with Swift.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
#   scripts/setup.sh            build + test prerequisites (libfdt-dev, dtc, dtschema)
#   scripts/setup.sh --guest    also QEMU 10 for the real-guest suite (../shared/guest/prepare.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
APT=($SUDO apt-get -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)

need=()
[ -f /usr/include/libfdt.h ] || need+=(libfdt-dev)
command -v dtc >/dev/null || need+=(device-tree-compiler)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
	echo "setup: installing ${need[*]}"
	$SUDO apt-get -o DPkg::Lock::Timeout=600 -q update >/dev/null
	"${APT[@]}" install "${need[@]}" >/dev/null
fi

if ! command -v dt-validate >/dev/null || ! command -v dt-doc-validate >/dev/null; then
	echo "setup: installing dtschema (PyPI)"
	python3 -m pip install -q dtschema 2>&1 | grep -v -i 'running pip as the' || true
	hash -r
fi

if [ "${1:-}" = "--guest" ]; then
	if [ -x ../shared/guest/prepare.sh ] || [ -f ../shared/guest/prepare.sh ]; then
		bash ../shared/guest/prepare.sh
	else
		echo "setup: ../shared/guest not found; the real-guest suite will be skipped" >&2
	fi
fi
echo "setup: ready"
