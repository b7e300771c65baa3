#!/usr/bin/env bash
# pair.sh OLD NEW: two server binaries measured side by side, at the same
# time, under the same shape. `make bench-pair OLD=... NEW=...` runs it in
# a network namespace that has only loopback.
#
# At a few thousand packets a second, one run's server CPU moves by a third
# from one minute to the next on a shared VM, more than most changes do;
# alternating runs of the two binaries only averages that. Here both
# servers are pinned to core 0 and run together, each loaded by its own
# sanctuary-bots (one binary, BOTS) on core 1, so whatever the machine does
# it does to both; the ratio new ÷ old of each round is the figure, and
# the sides swap every round. Both servers share core 0, so the absolute
# figures are not bench.sh's.
#
# Environment:
#   PAIR_SHAPE     name:speakers:listeners:K as in bench.sh, listeners with
#                  an m are muted microphones sending silence (default m-2x20:2:20m:3)
#   PAIR_NEW_SHAPE another shape for the new side, to price a load rather than a
#                  change: OLD and NEW may then be the same binary (default PAIR_SHAPE)
#   PAIR_OLD_FLAGS, PAIR_NEW_FLAGS  more flags for each side's server, to price a
#                  server option with one binary (e.g. PAIR_OLD_FLAGS=-dtx=false)
#   PAIR_ROUNDS    rounds (default 4)
#   PAIR_DURATION  measurement window in seconds (default 40)
#   PAIR_OUT       output directory (default bench-results/pair)
#   BOTS           the bots binary (default bin/sanctuary-bots)
set -euo pipefail

cd "$(dirname "$0")/../.."
[[ $# == 2 && -x $1 && -x $2 ]] || { echo "usage: $0 OLD-SERVER NEW-SERVER (two server binaries)" >&2; exit 2; }
OLD=$1 NEW=$2
SHAPE=${PAIR_SHAPE:-m-2x20:2:20m:3}
ROUNDS=${PAIR_ROUNDS:-4}
DURATION=${PAIR_DURATION:-40}
OUT=${PAIR_OUT:-bench-results/pair}
BOTS=${BOTS:-bin/sanctuary-bots}
[[ -x $BOTS ]] || { echo "pair: $BOTS not built (make build)" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ && $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || { echo "pair: PAIR_ROUNDS and PAIR_DURATION must be whole numbers" >&2; exit 2; }
NEW_SHAPE=${PAIR_NEW_SHAPE:-$SHAPE}
# shape SIDE SPEC: the side's name, speakers, bots, K and bots' flags.
declare -A name speakers nbots k flags
shape() {
	local n s l kk
	IFS=: read -r n s l kk <<<"$2"
	flags[$1]=""
	if [[ $l == *m ]]; then l=${l%m} flags[$1]=-muted-listeners; fi
	[[ $s =~ ^[0-9]+$ && $l =~ ^[0-9]+$ && $kk =~ ^[0-9]+$ ]] || { echo "pair: bad shape '$2'" >&2; exit 2; }
	name[$1]=$n speakers[$1]=$s nbots[$1]=$((s + l)) k[$1]=$kk
}
shape old "$SHAPE"
shape new "$NEW_SHAPE"
declare -A sflags=([old]=${PAIR_OLD_FLAGS:-} [new]=${PAIR_NEW_FLAGS:-})
command -v jq >/dev/null || { echo "pair: jq is needed (apt-get install jq)" >&2; exit 2; }
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
	PIN_SERVER=(taskset -c 0) PIN_BOTS=(taskset -c 1)
else
	PIN_SERVER=() PIN_BOTS=()
	echo "pair: not pinned (one core or no taskset)" >&2
fi
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$OUT"

pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

healthy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1" &&
		printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
		head -n1 <&3 | grep -q ' 200 ') 2>/dev/null
}

# start SIDE BIN PORT LOG: the side's server on PORT (its media on PORT+1 UDP, PORT+2 TCP); sets pid.
start() {
	local side=$1
	shift
	# shellcheck disable=SC2086 # sflags are words
	"${PIN_SERVER[@]}" "$1" -slots "${k[$side]}" -jwt-secret "$SECRET" -dev=false -ice-loopback-only -listen "127.0.0.1:$2" \
		-udp-port $(($2 + 1)) -tcp-port $(($2 + 2)) -log-level warn ${sflags[$side]} >"$3" 2>&1 &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 100); do
		healthy "$2" && return 0
		sleep 0.1
	done
	echo "pair: $1 did not become healthy; see $3" >&2
	exit 1
}

# bots SIDE PORT PID JSON: the side's bots against the server on PORT.
bots() {
	local side=$1
	shift
	# shellcheck disable=SC2086 # flags is one flag or none
	SANCTUARY_BOTS_SECRET=$SECRET timeout --kill-after=10 $((DURATION + 180)) "${PIN_BOTS[@]}" "$BOTS" \
		-url "ws://127.0.0.1:$1/ws" -ice-loopback-only -session "pair-${name[$side]}" -bots "${nbots[$side]}" \
		-speakers "${speakers[$side]}" ${flags[$side]} -duration "${DURATION}s" -warmup 3s -json \
		-server-pid "$2" -metrics-url "http://127.0.0.1:$1/metrics" >"$3" 2>"${3%.json}.log"
}

echo "| round | old: forwarded pkt/s | old: server CPU % | new: forwarded pkt/s | new: server CPU % | new ÷ old CPU | loss % old, new |" >"$OUT/summary.md"
echo "| --- | --- | --- | --- | --- | --- | --- |" >>"$OUT/summary.md"
ratios=()
for r in $(seq "$ROUNDS"); do
	port=$((20000 + RANDOM % 20000))
	if ((r % 2)); then first=old second=new; else first=new second=old; fi # swap sides
	declare -A bin=([old]=$OLD [new]=$NEW) port_of=([$first]=$port [$second]=$((port + 10)))
	pids=()
	start "$first" "${bin[$first]}" "${port_of[$first]}" "$OUT/$r.$first.server.log"
	pid_first=$pid
	start "$second" "${bin[$second]}" "${port_of[$second]}" "$OUT/$r.$second.server.log"
	pid_second=$pid
	echo "== pair round $r/$ROUNDS: old $SHAPE, new $NEW_SHAPE, ${DURATION}s, $first on :${port_of[$first]}, $second on :${port_of[$second]}" >&2
	bots "$first" "${port_of[$first]}" "$pid_first" "$OUT/$r.$first.json" &
	b1=$!
	bots "$second" "${port_of[$second]}" "$pid_second" "$OUT/$r.$second.json" || true
	wait "$b1" || true
	kill -TERM "$pid_first" "$pid_second" 2>/dev/null || true
	wait "$pid_first" "$pid_second" 2>/dev/null || true
	# The round's new ÷ old server CPU, computed once for its row and for the median.
	ratio=$(jq -rn --slurpfile o "$OUT/$r.old.json" --slurpfile n "$OUT/$r.new.json" \
		'if ($o[0].server_cpu_pct // 0) > 0 and $n[0].server_cpu_pct != null then $n[0].server_cpu_pct / $o[0].server_cpu_pct else "–" end' 2>/dev/null) || ratio="–"
	[[ $ratio == "–" ]] || ratios+=("$ratio")
	jq -rn --slurpfile o "$OUT/$r.old.json" --slurpfile n "$OUT/$r.new.json" --arg r "$r" --arg ratio "$ratio" '
		def f(x; d): if x == null then "–" else ((x * pow(10; d) | round) / pow(10; d) | tostring) end;
		$o[0] as $o | $n[0] as $n
		| "| \($r) | \(f($o.server_forwarded_pps; 0)) | \(f($o.server_cpu_pct; 2)) | \(f($n.server_forwarded_pps; 0)) | \(f($n.server_cpu_pct; 2)) "
		+ "| \(if $ratio == "–" then $ratio else f($ratio | tonumber; 2) end) | \(f($o.loss_pct; 2)), \(f($n.loss_pct; 2)) |"' >>"$OUT/summary.md" ||
		echo "| $r | no report (see $OUT/$r.*.log) | | | | | |" >>"$OUT/summary.md"
done
median=$(printf '%s\n' "${ratios[@]}" | jq -rs 'sort | if length == 0 then "–" else (if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end * 100 | round / 100 | tostring) end')
{
	echo
	echo "Median new ÷ old server CPU: $median (old $SHAPE${PAIR_OLD_FLAGS:+ $PAIR_OLD_FLAGS}, new $NEW_SHAPE${PAIR_NEW_FLAGS:+ $PAIR_NEW_FLAGS}, $ROUNDS rounds of ${DURATION}s, $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), old $OLD, new $NEW)."
} >>"$OUT/summary.md"
cat "$OUT/summary.md"
