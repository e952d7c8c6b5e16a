#!/usr/bin/env bash
# Benchmarks vai manifest against b3sum and parallel sha256sum (issue 3).
#
#   bench/manifest/run.sh [SIZE_MIB]     default 4096 (4 GiB)
#
# Builds a dataset of one large file (3/4 of SIZE) and many small ones in a
# temporary directory, reads it into the page cache, then in one run times,
# best of $RUNS (default 3):
#   - vai manifest --hash blake3 --no-cache   vs  b3sum over the same files
#   - vai manifest --hash sha256 --no-cache   vs  sha256sum, $(nproc) in parallel
#   - vai manifest with its cache after changing one 1 MiB file, as % of a
#     full uncached hash
# and prints the times, throughputs and ratios (ratio = reference time / vai
# time, so > 1 means vai is faster). Needs about SIZE of free disk and of
# free memory for the page cache. Installs b3sum with apt-get if missing.
set -euo pipefail

size_mib="${1:-4096}"
runs="${RUNS:-3}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/vai-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if ! command -v b3sum >/dev/null; then
	echo "installing b3sum…" >&2
	(apt-get install -y b3sum >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y b3sum >/dev/null; })
fi

cd "$repo"
go build -o "$work/vai" ./cmd/vai
go build -o "$work/gendata" ./bench/manifest/gendata
data="$work/data"
"$work/gendata" -dir "$data" -size $((size_mib << 20)) >&2
export VAI_HOME="$work/home"

# Page-cache everything, and make sure the files are older than the cache's
# racy window (2 s) so that the incremental run can use the cache.
find "$data" -type f -print0 | xargs -0 cat >/dev/null
sleep 3

ms() { # ms CMD... : run CMD, print its wall time in milliseconds
	local s e
	s=$(date +%s%N)
	"$@" >/dev/null
	e=$(date +%s%N)
	echo $(((e - s) / 1000000))
}
b3sum_all() { find "$data" -type f -print0 | xargs -0 b3sum; }
sha256sum_par() { find "$data" -type f -print0 | xargs -0 -P"$(nproc)" -n 32 sha256sum; }
vai_b3() { "$work/vai" manifest "$data" --hash blake3 --no-cache --output json; }
vai_sha() { "$work/vai" manifest "$data" --hash sha256 --no-cache --output json; }
vai_cached() { "$work/vai" manifest "$data" --output json; }

bytes=$(du -sb "$data" | cut -f1)
files=$(find "$data" -type f | wc -l)
gbps() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.2f", b / (t / 1000) / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Each pair runs interleaved, so that load from elsewhere on the machine
# falls on both sides alike.
t_b3sum=0 t_vai_b3=0 t_sha=0 t_vai_sha=0
low() { if (($2 == 0 || $1 < $2)); then echo "$1"; else echo "$2"; fi; } # low NEW BEST
for _ in $(seq "$runs"); do
	t_b3sum=$(low "$(ms b3sum_all)" "$t_b3sum")
	t_vai_b3=$(low "$(ms vai_b3)" "$t_vai_b3")
done
for _ in $(seq "$runs"); do
	t_sha=$(low "$(ms sha256sum_par)" "$t_sha")
	t_vai_sha=$(low "$(ms vai_sha)" "$t_vai_sha")
done

# Incremental: fill the cache, change one 1 MiB file, hash again.
vai_cached >/dev/null
victim=$(find "$data/data" -name 'shard-*.bin' -print -quit)
head -c $((1 << 20)) /dev/urandom >"$victim"
t_incr=$(ms vai_cached)

cat <<REPORT
machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM
tools: $(go version | cut -d' ' -f3), $(b3sum --version), $(sha256sum --version | sed -n 1p)
data: $files files, $bytes bytes (one file of 3/4, the rest 1 MiB and 64 KiB files); page-cached; best of $runs

| what | time (ms) | GB/s | ratio (reference time / vai time) |
|---|---:|---:|---:|
| b3sum (all files, its own threads) | $t_b3sum | $(gbps "$t_b3sum") | |
| vai manifest --hash blake3 --no-cache | $t_vai_b3 | $(gbps "$t_vai_b3") | $(ratio "$t_b3sum" "$t_vai_b3") |
| sha256sum, xargs -P$(nproc) | $t_sha | $(gbps "$t_sha") | |
| vai manifest --hash sha256 --no-cache | $t_vai_sha | $(gbps "$t_vai_sha") | $(ratio "$t_sha" "$t_vai_sha") |
| vai manifest (cache) after changing one 1 MiB file | $t_incr | | $(awk -v a="$t_incr" -v b="$t_vai_sha" 'BEGIN { printf "%.1f%% of the full hash", 100 * a / b }') |
REPORT
