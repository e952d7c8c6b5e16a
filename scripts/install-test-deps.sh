#!/usr/bin/env bash
# install-test-deps.sh installs the Debian packages that the runtime's tests
# and tools need, and only those that are missing:
#
#   libonnx-testdata  ONNX backend node tests (runtime conformance tests)
#   python3-torch     retraining the reference models, PyTorch benchmark
#   python3-onnx      ONNX export from PyTorch
#
# Usage: scripts/install-test-deps.sh [--conformance-only]
#
# CI calls it with --conformance-only: the Go tests need only the test data;
# torch is needed only by runtime/testdata/train_digits.sh and bench/runtime.
set -euo pipefail

pkgs=(libonnx-testdata)
if [[ "${1:-}" != "--conformance-only" ]]; then
	pkgs+=(python3-torch python3-onnx python3-numpy)
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-test-deps: all present: ${pkgs[*]}"
	exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
	sudo="sudo"
fi
echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
