#!/usr/bin/env bash
# run.sh benchmarks vai's int8 runtime against PyTorch float32 on the digits
# models (see bench.py). It installs Debian's python3-torch and python3-onnx
# when missing. Extra arguments go to bench.py (--seconds, --reps).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
"$root/scripts/install-test-deps.sh"
bin="$(mktemp -d)/vaibench"
trap 'rm -rf "$(dirname "$bin")"' EXIT
(cd "$root" && go build -o "$bin" ./bench/runtime/vaibench)
/usr/bin/python3 "$here/bench.py" --vaibench "$bin" "$@"
