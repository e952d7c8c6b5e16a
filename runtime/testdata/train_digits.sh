#!/usr/bin/env bash
# train_digits.sh retrains the reference digits models (see train_digits.py) and
# re-imports them into .vaim with the vai CLI. It needs Debian's python3-torch and
# python3-onnx (installed here when missing) and the shared digits data set.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
"$root/scripts/install-test-deps.sh"
data="${1:-$root/../shared/datasets/digits.csv.gz}"
/usr/bin/python3 "$here/train_digits.py" "$data"
cd "$root"
go build -o "$here/.vai" ./cmd/vai
trap 'rm -f "$here/.vai"' EXIT
for m in digits_mlp digits_cnn digits_tanh; do
	"$here/.vai" model import "$here/$m.onnx" --calibrate "$here/digits_calib.csv" \
		--test "$here/digits_test.csv" -o "$here/$m.vaim"
done
