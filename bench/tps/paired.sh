#!/usr/bin/env bash
# Paired throughput runs: a base commit and the working tree, alternately, so
# that both see the same phases of a noisy machine.
#
#   bench/tps/paired.sh BASE_REV [VALIDATORS] [PAIRS]
#
# Each line is bench/tps's result row for one run (tx/s, latency, node CPU
# per transaction, peak RSS, disk), prefixed with "base" or "head". With
# perf(1) available it also counts node 0's page faults over 8 s of the burst.
set -euo pipefail
base=${1:?usage: paired.sh BASE_REV [VALIDATORS] [PAIRS]}
vals=${2:-1}
pairs=${3:-3}
root=$(git rev-parse --show-toplevel)
wt=$(mktemp -d /tmp/vai-paired.XXXXXX)
trap 'git -C "$root" worktree remove -f "$wt" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add -f --detach "$wt" "$base" >/dev/null

run() { # dir label
	local out faults=""
	out=$(mktemp)
	(cd "$1" && go run ./bench/tps -validators "$vals" -kvstore=false -latency-secs 1 >"$out" 2>&1) &
	local job=$!
	if command -v perf >/dev/null; then
		local pid=""
		for _ in $(seq 1 300); do
			pid=$(pgrep -f "vai-tps.*start --home .*node0" | head -1 || true)
			[ -n "$pid" ] && break
			sleep 0.2
		done
		if [ -n "$pid" ]; then
			sleep 2
			faults=$(perf stat -x, -e page-faults -p "$pid" -- sleep 8 2>&1 | awk -F, '/page-faults/ {print " faults=" $1}')
		fi
	fi
	wait "$job"
	echo "$2${faults} $(tail -1 "$out")"
	rm -f "$out"
}

echo "base $(git -C "$wt" log --oneline -1)"
echo "head $(git -C "$root" log --oneline -1) + working tree"
for _ in $(seq 1 "$pairs"); do
	run "$wt" base
	run "$root" head
done
