#!/usr/bin/env bash
# What an operator's questions and an orchestrator's restart cost with a deep queue.
#
# usage: tools/deep-queue/measure.sh [BATON] [RUNS] [release]
#
# Starts a cluster of its own (1 shard, no workers, "security": "none", every endpoint on 127.0.0.1, in a
# temporary folder), applies a flow of 10,000 independent jobs and one of a single job, and starts RUNS
# runs of the first (100 by default: a million jobs queued at the shard) and one of the second. Then it
# times, with the CPU the shard spent on each: a scrape of the shard's metrics, `baton queue`, and
# `baton status` of the one-job run and of a 10,000-job run. Last it kills the orchestrator with SIGKILL,
# starts it again, and times `status` of the one-job run from the kill, and until the orchestrator and
# the shard are idle again (together they spend under 20 ms of CPU in half a second), with the CPU each spent and
# the orchestrator's peak resident memory (and its memory before the kill).
#
# With `release`, the product is held before the runs start, so that their jobs wait parked at the
# orchestrator, and what is timed is its release: `baton release` answered, `status` of the one-job run
# asked at once after it, and every job queued at the shard, with the orchestrator's CPU and its peak
# memory (and its peak before the release).
set -euo pipefail
baton=${1:-.build/release/baton}
runs=${2:-100}
mode=${3:-questions}
baton=$(cd "$(dirname "$baton")" && pwd)/$(basename "$baton")
dir=$(mktemp -d)
trap '"$baton" down --config "$dir/cluster.json" > /dev/null 2>&1 || true; rm -rf "$dir"' EXIT

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
metrics=$(port)
cat > "$dir/cluster.json" <<JSON
{
  "data": "$dir/data", "durability": "full", "security": "none",
  "management": {"api": "tcp://127.0.0.1:$(port)"},
  "orchestrator": {"ops": "tcp://127.0.0.1:$(port)", "events": "tcp://127.0.0.1:$(port)"},
  "shards": [{"id": 1, "submit": "tcp://127.0.0.1:$(port)", "work": "tcp://127.0.0.1:$(port)",
              "events": "tcp://127.0.0.1:$(port)", "metrics": "127.0.0.1:$metrics"}],
  "pools": []
}
JSON
python3 - "$dir" <<'PY'
import json, sys
jobs = [{"name": f"j{i}", "handler": "noop"} for i in range(10000)]
json.dump({"product": "deep", "flow": "wide", "jobs": jobs}, open(f"{sys.argv[1]}/wide.json", "w"))
json.dump({"product": "deep", "flow": "one", "jobs": [{"name": "one", "handler": "noop"}]}, open(f"{sys.argv[1]}/one.json", "w"))
PY
b() { "$baton" "$@" --config "$dir/cluster.json"; }
ticks=$(getconf CLK_TCK)
cpu() { awk -v ticks="$ticks" '{print int(($14 + $15) * 1000 / ticks)}' "/proc/$1/stat"; }   # milliseconds
# The seconds from $1 to $2, less $3.
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]) - float(sys.argv[3]):.2f}')" "$1" "$2" "${3:-0}"; }
b up > /dev/null
b apply "$dir/wide.json" "$dir/one.json" > /dev/null
[ "$mode" = release ] && b hold deep > /dev/null
for _ in $(seq "$runs"); do b start deep/wide > /dev/null; done
b start deep/one > /dev/null
one=$((runs + 1))
queued=$((runs * 10000 + 1))
shard=$(cat "$dir/data/run/shard-1.pid")
# Waits, polling every $1 seconds at most 600 times, until the shard holds every job queued.
await_queue() {
    depth=0
    for _ in $(seq 600); do
        depth=$( (curl -sf --max-time 5 "http://127.0.0.1:$metrics/metrics" || true) | awk '/^baton_shard_queued_tasks/ {n += $2} END {print n + 0}')
        [ "$depth" -ge "$queued" ] && return 0
        sleep "$1"
    done
    echo "measure.sh: only $depth of $queued jobs queued at the shard after $(python3 -c "print(600 * $1)") s" >&2
    exit 1
}
if [ "$mode" = release ]; then
    orchestrator=$(cat "$dir/data/run/orchestrator.pid")
    peak=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$orchestrator/status")
    before=$(cpu "$orchestrator") start=$(date +%s.%N)
    b release deep > /dev/null
    released=$(date +%s.%N)
    b status "$one" > /dev/null
    answered=$(date +%s.%N)
    await_queue 0.25
    echo "released: answered $(seconds "$start" "$released") s after it was asked," \
        "status $(seconds "$start" "$answered") s after," \
        "every job queued at the shard after $(seconds "$start" "$(date +%s.%N)") s;" \
        "the orchestrator's CPU $(( $(cpu "$orchestrator") - before )) ms," \
        "peak $(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$orchestrator/status") MB ($peak MB before)"
    exit 0
fi
await_queue 0.5
echo "queued at the shard: $depth jobs"
measure() {
    local name=$1 before start
    shift
    before=$(cpu "$shard")
    start=$(date +%s.%N)
    "$@" > /dev/null
    echo "$name: $(seconds "$start" "$(date +%s.%N)") s, the shard's CPU $(( $(cpu "$shard") - before )) ms"
}
measure "metrics scrape" curl -s "http://127.0.0.1:$metrics/metrics"
measure "queue" b queue
measure "status of the one-job run" b status "$one"
measure "status of a 10,000-job run" b status 1

resident=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$(cat "$dir/data/run/orchestrator.pid")/status")
kill -9 "$(cat "$dir/data/run/orchestrator.pid")"
for _ in $(seq 200); do kill -0 "$(cat "$dir/data/run/orchestrator.pid")" 2> /dev/null || break; sleep 0.05; done
shard_before=$(cpu "$shard") start=$(date +%s.%N)
b up > /dev/null
answered=
for _ in $(seq 3000); do
    if b status "$one" > /dev/null 2>&1; then answered=$(date +%s.%N); break; fi
    sleep 0.02
done
if [ -z "$answered" ]; then
    echo "measure.sh: the restarted orchestrator did not answer status" >&2
    exit 1
fi
orchestrator=$(cat "$dir/data/run/orchestrator.pid")
previous=$(( $(cpu "$orchestrator") + $(cpu "$shard") ))
idle=
for _ in $(seq 600); do
    sleep 0.5
    now=$(( $(cpu "$orchestrator") + $(cpu "$shard") ))
    if [ $((now - previous)) -le 20 ]; then idle=$(date +%s.%N); break; fi
    previous=$now
done
settled="both idle after $([ -n "$idle" ] && seconds "$start" "$idle" 0.5 || echo "more than 300") s"
echo "orchestrator restarted (SIGKILL): status answered $(seconds "$start" "$answered") s after the kill," \
    "$settled;" \
    "the orchestrator's CPU $(cpu "$orchestrator") ms, peak $(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$orchestrator/status") MB" \
    "($resident MB before the kill);" \
    "the shard's CPU $(( $(cpu "$shard") - shard_before )) ms"
