#!/usr/bin/env bash
# The project's test command: what CI runs (.ci/run) and what the README
# tells you to run. Needs Go and the module proxy; installs nothing else by
# hand (scripts that need Debian packages install them themselves).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l . | grep -v '^testdata/' || true)
if [ -n "$unformatted" ]; then
  echo "not gofmt-clean:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== test data: ONNX backend node tests (Debian libonnx-testdata) for runtime conformance"
scripts/install-test-deps.sh --conformance-only

echo "== IPFS kubo, built from the Go module proxy, for the content store's kubo backend test"
scripts/kubo.sh build

echo "== solc-js for the zkml/evm test (npm, pinned; the test skips without it)"
scripts/install-solc.sh >/dev/null

echo "== race detector on the concurrent packages"
go test -race -count=1 ./wire/... ./client/... ./internal/ledger/... ./internal/node/... ./internal/keyring/... ./manifest/... ./cas/... ./runtime/... ./tlog/... ./internal/provider/...

echo "== all tests"
go test -count=1 ./...

echo "== short benchmark run"
go run ./bench/tps -quick
echo "== market benchmark (short)"
go run ./bench/market -quick
echo "== verifiable-log benchmark (short)"
go run ./bench/tlog -quick
