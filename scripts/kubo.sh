#!/usr/bin/env bash
# kubo.sh builds, caches and runs an IPFS kubo daemon for vai's cas/ipfs tests.
#
# kubo is built from the Go module proxy (no prebuilt download): `go install`
# is refused for kubo, so the module is downloaded, copied somewhere writable
# and built there. The binary is cached, so only the first build costs time
# (~2.5 minutes on 2 cores).
#
#   scripts/kubo.sh build            build (or reuse) the binary; print its path
#   scripts/kubo.sh start DIR        init a repo in DIR, start an offline daemon
#                                    on loopback, print the API URL
#   scripts/kubo.sh stop DIR         stop the daemon started in DIR
#
# Environment:
#   KUBO_VERSION   kubo version to build (default v0.39.0)
#   VAI_KUBO_CACHE cache directory (default ${XDG_CACHE_HOME:-~/.cache}/vai/kubo)
#
# The cas tests use $VAI_KUBO_BIN, or the cached binary at
# $VAI_KUBO_CACHE/$KUBO_VERSION/ipfs, and skip when neither exists.
set -euo pipefail

version="${KUBO_VERSION:-v0.39.0}"
cache="${VAI_KUBO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vai/kubo}"
bin="$cache/$version/ipfs"

build() {
	if [[ -x "$bin" ]]; then
		echo "$bin"
		return
	fi
	mkdir -p "$cache/$version"
	local dir
	dir="$(GOFLAGS=-mod=mod go mod download -json "github.com/ipfs/kubo@$version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[[ -n "$dir" && -d "$dir" ]] || { echo "kubo.sh: cannot download kubo $version" >&2; exit 1; }
	src="$(mktemp -d)" # global: the EXIT trap runs after build returns
	trap 'chmod -R u+w "$src"; rm -rf "$src"' EXIT
	cp -r "$dir/." "$src/"
	chmod -R u+w "$src"
	# untested_go_version: kubo refuses newer Go toolchains without it.
	(cd "$src" && nice -n 10 go build -trimpath -tags untested_go_version -o "$bin.tmp" ./cmd/ipfs)
	mv "$bin.tmp" "$bin"
	echo "$bin"
}

start() {
	local repo="$1"
	build >/dev/null
	mkdir -p "$repo"
	export IPFS_PATH="$repo"
	if [[ ! -f "$repo/config" ]]; then
		"$bin" init --profile=test >/dev/null
		"$bin" config Addresses.API /ip4/127.0.0.1/tcp/0
		"$bin" config Addresses.Gateway /ip4/127.0.0.1/tcp/0
		"$bin" config --json Addresses.Swarm '[]'
	fi
	"$bin" daemon --offline >"$repo/daemon.log" 2>&1 &
	echo $! >"$repo/daemon.pid"
	for _ in $(seq 1 100); do
		if [[ -f "$repo/api" ]]; then
			# api holds a multiaddr like /ip4/127.0.0.1/tcp/PORT
			local port
			port="$(sed -n 's#^/ip4/127.0.0.1/tcp/\([0-9]*\).*#\1#p' "$repo/api")"
			echo "http://127.0.0.1:$port"
			return
		fi
		sleep 0.1
	done
	echo "kubo.sh: daemon did not start; see $repo/daemon.log" >&2
	exit 1
}

stop() {
	local repo="$1"
	[[ -f "$repo/daemon.pid" ]] || return 0
	kill "$(cat "$repo/daemon.pid")" 2>/dev/null || true
	rm -f "$repo/daemon.pid"
}

case "${1:-}" in
build) build ;;
start) start "${2:?usage: kubo.sh start DIR}" ;;
stop) stop "${2:?usage: kubo.sh stop DIR}" ;;
*)
	echo "usage: kubo.sh build | start DIR | stop DIR" >&2
	exit 2
	;;
esac
