#!/usr/bin/env bash
# Paired throughput runs: a base commit and the working tree, alternately, so
# that both see the same phases of a noisy machine. Pairs run in turn as
# base-head and head-base, so a machine that drifts steadily faster or
# slower during the runs does not favour the side that always runs second.
#
#   bench/tps/paired.sh BASE_REV [VALIDATORS] [PAIRS]
#
# Each line is bench/tps's result row for one run (tx/s, latency, node CPU
# per transaction, peak RSS, disk), prefixed with "base" or "head". With
# perf(1) available it also counts node 0's page faults over 8 s of the burst.
# The last lines give head/base, pair by pair and their mean, for tx/s, for
# node CPU per transaction, and for node CPU per transaction divided by the
# load generator's. The load generator does the same work on both sides, so
# its CPU per transaction tracks how fast the VM is running at the time; the
# quotient cancels most of that drift. On the AMD VM an A/A run (the same
# code on both sides) spread tx/s by 0.82-1.28 per pair and the quotient by
# 0.98-1.04 (BENCHMARKS.md, eighth round).
set -euo pipefail
base=${1:?usage: paired.sh BASE_REV [VALIDATORS] [PAIRS]}
vals=${2:-1}
pairs=${3:-3}
root=$(git rev-parse --show-toplevel)
wt=$(mktemp -d /tmp/vai-paired.XXXXXX)
rows=$(mktemp)
trap 'git -C "$root" worktree remove -f "$wt" >/dev/null 2>&1 || true; rm -f "$rows"' EXIT
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
	tail -1 "$out" | awk -v side="$2" '{print side, $4, $7, $8}' >>"$rows"
	rm -f "$out"
}

echo "base $(git -C "$wt" log --oneline -1)"
echo "head $(git -C "$root" log --oneline -1) + working tree"
for p in $(seq 1 "$pairs"); do
	if ((p % 2)); then
		run "$wt" base
		run "$root" head
	else
		run "$root" head
		run "$wt" base
	fi
done
# rows: side, tx/s, node CPU per tx, load generator CPU per tx; two per pair.
awk '{side[NR] = $1; tps[NR] = $2; cpu[NR] = $3; gen[NR] = $4}
function add(name, r) { sum[name] += r; list[name] = list[name] sprintf(" %.3f", r) }
END {
	for (i = 1; i < NR; i += 2) {
		b = (side[i] == "base") ? i : i + 1; h = (b == i) ? i + 1 : i
		if (tps[b] > 0 && cpu[b] > 0 && gen[b] > 0 && gen[h] > 0) {
			n++
			add("tps", tps[h] / tps[b]); add("cpu", cpu[h] / cpu[b])
			add("rel", (cpu[h] / gen[h]) / (cpu[b] / gen[b]))
		}
	}
	if (!n) exit
	printf "head/base, tx/s:%s (mean %.3f)\n", list["tps"], sum["tps"] / n
	printf "head/base, node CPU per tx:%s (mean %.3f)\n", list["cpu"], sum["cpu"] / n
	printf "head/base, node CPU per tx / load generator CPU per tx:%s (mean %.3f)\n", list["rel"], sum["rel"] / n
}' "$rows"
