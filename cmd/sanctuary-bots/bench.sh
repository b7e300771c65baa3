#!/usr/bin/env bash
# bench.sh: load benchmarks of the server binary, measured by the bots
# binary over loopback. `make bench` builds bin/sanctuary and
# bin/sanctuary-bots and runs this from the repository root.
#
# For each shape it starts bin/sanctuary pinned to core 0 with K slots,
# runs bin/sanctuary-bots pinned to core 1 for a fixed window, saves the
# raw JSON report to bench-results/<shape>.json (the bots' progress and
# verdict to <shape>.log, the server's log to <shape>.server.log), stops
# the server with SIGTERM, measures the floor at the shape's rate and
# fan-out (`sanctuary-bots floor`: SRTP seal + one sendto per packet, to
# <shape>.floor.json), and at the end writes bench-results/RESULTS.md and
# a plot of CPU per packet (and the floor) and RSS per participant against
# participants, bench-results/bench.svg (`sanctuary-bots plot`).
#
# Every run ends by itself: the bots run under `timeout`, the server is
# stopped by SIGTERM and killed if it does not exit, and an exit trap
# kills a server left behind by an interrupted run.
#
# Environment:
#   BENCH_DURATION  measurement window in seconds, "20" or "20s" (default 20)
#   BENCH_WARMUP    warm-up between all connected and the window, seconds (default 3)
#   BENCH_SHAPES    space-separated name:speakers:listeners:K[:rooms:move-every] (default: the
#                   seven below). With rooms, bot 0 (the host, counted among the listeners)
#                   creates that many breakout rooms, assigns everyone else to them and,
#                   unless move-every is 0, moves a random bot to another room that often
#                   through the window; the speakers are bots 1..speakers, spread over the rooms.
#                   d-moves and e-nomoves are the same 60 bots in 6 rooms, with and without moves.
#                   Listeners written with an m ("20m") are microphones muted by their track
#                   that keep sending digital silence, as browsers do (sanctuary-bots
#                   -muted-listeners), with Opus DTX since the server asks for it (one frame in
#                   ten; with BENCH_SERVER_FLAGS=-dtx=false, 50 packets a second): m-2x20 is
#                   s-2x20's room as browsers other than ours make it, at the server's default K.
#   BENCH_FLOOR_DURATION  seconds of each shape's floor measurement (default 10)
#   BENCH_OUT       output directory (default bench-results)
#   BIN             directory of the binaries (default bin)
#   BENCH_SERVER_FLAGS  more flags for the server, for comparisons (e.g. "-direct-writes=false")
set -euo pipefail

cd "$(dirname "$0")/../.."

seconds() { # "20s" or "20" → 20; anything else is an error
	local v=${1%s}
	[[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || { echo "bench: $2 must be whole seconds, got '$1'" >&2; exit 2; }
	echo "$v"
}
DURATION=$(seconds "${BENCH_DURATION:-20}" BENCH_DURATION)
WARMUP=$(seconds "${BENCH_WARMUP:-3}" BENCH_WARMUP)
SHAPES=${BENCH_SHAPES:-"s-2x20:2:20:2 m-2x20:2:20m:3 a-5x50:5:50:5 b-10x100:10:100:10 c-3x200:3:200:3 d-moves:12:48:5:6:200ms e-nomoves:12:48:5:6:0"}
OUT=${BENCH_OUT:-bench-results}
BIN=${BIN:-bin}
# Joins and connects are bounded per bot by the bots themselves (15 s + 20 s);
# this bounds the whole run of one shape.
BOTS_LIMIT=$((DURATION + WARMUP + 180))
FLOOR_DURATION=$(seconds "${BENCH_FLOOR_DURATION:-10}" BENCH_FLOOR_DURATION)
STOP_LIMIT=15 # seconds for the server to exit after SIGTERM

for b in "$BIN/sanctuary" "$BIN/sanctuary-bots"; do
	[[ -x $b ]] || { echo "bench: $b not built (make build)" >&2; exit 2; }
done
if ! command -v jq >/dev/null; then
	echo "bench: installing jq" >&2
	if [[ $(id -u) == 0 ]]; then sudo=""; else sudo="sudo"; fi
	$sudo apt-get install -y jq >/dev/null || { $sudo apt-get update >/dev/null && $sudo apt-get install -y jq >/dev/null; }
fi

# Pinning: server on core 0, bots on core 1, when there are two cores.
NPROC=$(nproc)
if command -v taskset >/dev/null && ((NPROC >= 2)); then
	PIN_SERVER=(taskset -c 0) PIN_BOTS=(taskset -c 1) PINNING="server on core 0, bots on core 1 (taskset)"
	FLOOR_CPU=0
else
	PIN_SERVER=() PIN_BOTS=() PINNING="not pinned (nproc $NPROC or no taskset): server and bots share the cores"
	FLOOR_CPU=-1
fi

SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$OUT"

server_pid=""
cleanup() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
healthy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1" &&
		printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
		head -n1 <&3 | grep -q ' 200 ') 2>/dev/null
}

# start_server K LOG: starts the server on a free port; sets server_pid and port.
start_server() {
	local k=$1 log=$2 try i
	for try in 1 2 3; do
		port=$((20000 + RANDOM % 40000))
		port_free "$port" || continue
		"${PIN_SERVER[@]}" "$BIN/sanctuary" -slots "$k" -jwt-secret "$SECRET" -dev=false -ice-loopback-only \
			-listen "127.0.0.1:$port" -log-level warn ${BENCH_SERVER_FLAGS:-} >"$log" 2>&1 &
		server_pid=$!
		for i in $(seq 100); do # 10 s
			healthy "$port" && return 0
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		cleanup
		server_pid=""
	done
	echo "bench: the server did not become healthy; see $log" >&2
	return 1
}

# stop_server: SIGTERM, then SIGKILL after STOP_LIMIT; sets stopped to how
# the server ended.
stop_server() {
	local i status=0 killed=""
	kill -TERM "$server_pid"
	for i in $(seq $((STOP_LIMIT * 10))); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid"
		killed=" (killed: still running ${STOP_LIMIT}s after SIGTERM)"
	fi
	wait "$server_pid" || status=$?
	server_pid=""
	stopped="exit $status$killed"
}

declare -a ROWS NOTES
SHAPE_NAMES=""
for shape in $SHAPES; do
	IFS=: read -r name speakers listeners k rooms every <<<"$shape"
	SHAPE_NAMES="$SHAPE_NAMES $name"
	muted_args=() muted=""
	if [[ $listeners == *m ]]; then
		listeners=${listeners%m} muted_args=(-muted-listeners) muted=" (muted, sending silence)"
	fi
	[[ $speakers =~ ^[0-9]+$ && $listeners =~ ^[0-9]+$ ]] || { echo "bench: shape $shape: speakers and listeners must be numbers" >&2; exit 2; }
	nbots=$((speakers + listeners))
	rooms=${rooms:-0} every=${every:-0}
	[[ $rooms =~ ^[0-9]+$ ]] || { echo "bench: shape $shape: rooms must be a number" >&2; exit 2; }
	breakout_args=()
	what="$speakers speakers + $listeners listeners$muted, K=$k"
	if ((rooms > 0)); then
		breakout_args=(-breakouts "$rooms" -move-every "$every")
		what="$what, $rooms rooms, $([[ $every =~ ^0[a-z]*$ ]] && echo "no moves" || echo "a move every $every")"
	fi
	echo "== bench $name: $what, ${DURATION}s window" >&2
	start_server "$k" "$OUT/$name.server.log"
	code=0
	SANCTUARY_BOTS_SECRET=$SECRET timeout --signal=TERM --kill-after=10 "$BOTS_LIMIT" \
		"${PIN_BOTS[@]}" "$BIN/sanctuary-bots" \
		-url "ws://127.0.0.1:$port/ws" -ice-loopback-only -session "bench-$name" -bots "$nbots" -speakers "$speakers" \
		-duration "${DURATION}s" -warmup "${WARMUP}s" -json "${breakout_args[@]}" "${muted_args[@]}" \
		-server-pid "$server_pid" -metrics-url "http://127.0.0.1:$port/metrics" \
		>"$OUT/$name.json" 2>"$OUT/$name.log" || code=$?
	stop_server
	tail -n 3 "$OUT/$name.log" | sed 's/^/   /' >&2

	if ! jq -e . "$OUT/$name.json" >/dev/null 2>&1; then
		why="bots exit $code"
		if ((code == 124)); then why="$why: timed out after ${BOTS_LIMIT}s"; fi
		ROWS+=("| $name | $nbots ($speakers speak) | $k | $rooms | no report ($why) | | | | | | | | | | | | | | | | | |")
		NOTES+=("- $name: no report ($why); see $name.log; server $stopped")
		continue
	fi
	# The floor at this shape's rate and fan-out, pinned like the server:
	# its sender thread on core 0, its receiving sockets on core 1.
	floor_json="$OUT/$name.floor.json"
	rm -f "$floor_json"
	read -r pps fanout < <(jq -r '[(.server_forwarded_pps // 0 | round),
		(if (.packets_sent // 0) > 0 then (.server_forwarded_pps * .duration_s / .packets_sent | round) else 0 end)] | @tsv' "$OUT/$name.json")
	if ((pps > 0 && fanout > 0)); then
		"${PIN_BOTS[@]}" "$BIN/sanctuary-bots" floor -pps "$pps" -fanout "$fanout" -sockets "$nbots" \
			-duration "${FLOOR_DURATION}s" -cpu "$FLOOR_CPU" -json >"$floor_json" 2>>"$OUT/$name.log" || rm -f "$floor_json"
	fi
	floor_us=$(jq -r '.cpu_us_per_packet // empty' "$floor_json" 2>/dev/null || true)
	echo "   floor: ${floor_us:-not measured} µs per packet at $pps pkt/s in bursts of $fanout" >&2

	ROWS+=("$(jq -r --arg name "$name" --arg k "$k" --arg floor "${floor_us:-}" '
		def r(n): if . == null then "–" else ((. * pow(10; n) | round) / pow(10; n) | tostring) end;
		def pair(a; b; n): "\(a | r(n)) / \(b | r(n))";
		"| \($name) | \(.bots) (\(.speakers) speak\(if (.muted // 0) > 0 then ", \(.muted) muted" else "" end)) | \($k) | \(.breakouts | r(0)) | \(.server_forwarded_pps | r(0)) "
		+ "| \(.server_cpu_us_per_packet | r(2)) | \(if $floor == "" then null else ($floor | tonumber) end | r(2)) "
		+ "| \(if $floor == "" or .server_cpu_us_per_packet == null then null else (.server_cpu_us_per_packet / ($floor | tonumber)) end | r(2)) "
		+ "| \(.server_cpu_pct | r(0)) | \(.bots_cpu_pct | r(0)) "
		+ "| \(.server_rss_mb | r(1)) | \(.server_rss_kb_per_participant | r(0)) "
		+ "| \(pair(.first_audio_ms_p50; .first_audio_ms_p99; 0)) | \(pair(.join_ms_p50; .join_ms_p99; 1)) "
		+ "| \(pair(.connect_ms_p50; .connect_ms_p99; 1)) | \(pair(.latency_ms_p50; .latency_ms_p99; 1)) | \(.loss_pct | r(2)) "
		+ "| \(if .breakouts then (.moves // 0) else null end | r(0)) | \(pair(.move_ms_p50; .move_ms_p99; 1)) "
		+ "| \(.foreign_packets) | \(.renegotiations) | \(.joined)/\(.bots) |"' "$OUT/$name.json")")
	verdict="passed"
	((code == 0)) || verdict="bots exit $code: $(grep '^FAIL' "$OUT/$name.log" | head -n 3 | tr '\n' ' ')"
	failures=$(jq -r '(.failures // [])[:3] | join("; ")' "$OUT/$name.json")
	# A pinned process near 100% of its core was the limit of the shape.
	limits=$(jq -r '[
		(select((.server_cpu_pct // 0) >= 90) | "the server'"'"'s core was saturated"),
		(select((.bots_cpu_pct // 0) >= 90) | "the bots'"'"' core was saturated: the load generator limited this shape")
	] | join("; ")' "$OUT/$name.json")
	NOTES+=("- $name: $verdict${failures:+ (failures: $failures)}${limits:+; $limits}; server after SIGTERM: $stopped")
done

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
	echo "# Load benchmark results"
	echo
	echo "Written by \`cmd/sanctuary-bots/bench.sh\` (\`make bench\`) on $(date -u '+%Y-%m-%d %H:%M UTC')."
	echo
	echo "Machine: $NPROC CPUs ($cpu_model), Linux $(uname -r), $(go version 2>/dev/null | cut -d' ' -f3- || echo 'go ?')."
	echo "Pinning: $PINNING. Window: ${DURATION} s after ${WARMUP} s of warm-up; every bot joins one session over loopback."
	echo "In the shapes with rooms, bot 0 (the host, one of the listeners) creates them and assigns everyone else"
	echo "(balanced) before the warm-up, and moves a random bot to another room every move-every through the"
	echo "window (shapes: \`$SHAPES\`)."
	echo
	echo "| shape | bots | K | rooms | forwarded pkt/s | server CPU µs/pkt | floor µs/pkt | ratio to floor | server CPU % | bots CPU % | server RSS MB | RSS KB/participant | first audio p50/p99 ms | join p50/p99 ms | connected p50/p99 ms | latency p50/p99 ms | loss % | moves | move p50/p99 ms | foreign | renegotiations | joined |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	printf '%s\n' "${ROWS[@]}"
	echo
	echo "Outcome per shape:"
	echo
	printf '%s\n' "${NOTES[@]}"
	echo
	echo "## Method"
	echo
	echo "- **Server CPU µs per forwarded packet**: the server's user+sys CPU (utime+stime from"
	echo "  /proc/PID/stat) over the measurement window ÷ the packets it forwarded in that window (the"
	echo "  increase of \`sanctuary_rtp_packets_forwarded_total\` on its /metrics page, scraped at the"
	echo "  window's start and end; in a shape with moves, the moves happen within that window)."
	echo "  **Server CPU %** is the same CPU ÷ the window, in % of one core"
	echo "  (100 = the server's core was saturated); **bots CPU %** is the bots process's own, likewise"
	echo "  (100 = the load generator was the limit)."
	echo "- **Floor**: \`sanctuary-bots floor\` run right after the shape, at its forwarded rate and fan-out"
	echo "  (forwarded ÷ sent packets), to as many loopback sockets as bots: each packet sealed with SRTP"
	echo "  AES-256-GCM (as pion negotiates with pion) and sent with one sendto, the sender thread pinned"
	echo "  where the server was; its CPU is that thread's own (CLOCK_THREAD_CPUTIME_ID, which on loopback"
	echo "  includes the kernel's delivery to the receiving socket, as the server's CPU does) ÷ packets."
	echo "  **Ratio to floor** = server CPU µs/pkt ÷ floor µs/pkt, both measured in this run: it moves far"
	echo "  less than the µs figures between machines and with the machine's load."
	echo "- **Forwarded pkt/s**: forwarded packets in the window ÷ the window."
	echo "- **Server RSS**: VmRSS at the window's end; **KB per participant**: its growth since before the"
	echo "  joins ÷ bots joined."
	echo "- **First audio**: websocket dial → first packet heard by the bot; **join**: websocket dial →"
	echo "  welcome; **connected**: websocket dial → the bot's PeerConnection connected; **latency**: send →"
	echo "  receive of the signed packets sent in the window."
	echo "- **Loss**: 1 − received ÷ expected, where expected is, for every listener, the packets each"
	echo "  speaker it may hear sent in the window (in the shapes without rooms speakers ≤ K, so everyone"
	echo "  is heard). In the"
	echo "  shapes with rooms a listener may hear the speakers of its own room only, and only settled"
	echo "  time counts: the packets a speaker sent while it and the listener were in the same room, from"
	echo "  the server's answer to the command that last put either there until 100 ms before the"
	echo "  command that next moved either was sent (a packet sent just before a move may rightly be"
	echo "  dropped); moves of other bots do not interrupt it, so glitches of bystanders count. Moves keep"
	echo "  rooms at ≤ K speakers and never take a room's last speaker, so everyone who speaks is heard,"
	echo "  and rooms at ≤ K+1 members where that fits everyone, else at most one above an even split."
	echo "- **Moves**: moves the server accepted in the window; **move time**: the move command sent by"
	echo "  the host → the first packet from a speaker of the new room received by the moved bot"
	echo "  (recognised by its signature), over the moves into a room with a speaker; a moved bot that"
	echo "  never heard its new room fails the run (\`moves_unheard\` in the JSON)."
	echo "- **Muted** (listeners written with an m, as m-2x20): microphones muted by their track that keep"
	echo "  sending digital silence, as browsers do: one frame in ten when the server asks for Opus DTX"
	echo "  (its default), else 50 packets a second; they are owed to nobody. The server receives them"
	echo "  and holds them back after each run's first half second, so its CPU per forwarded packet"
	echo "  includes receiving them."
	echo "- **Foreign**: packets a bot received from outside its audience (must be 0); across a move, a"
	echo "  bot expects its room-mates of before and after until the server's answer, and from then on"
	echo "  only those after, for every packet sent after the answer was received;"
	echo "  **renegotiations**: SDP offers after the first (target 0)."
	echo "- Raw reports: \`<shape>.json\`; bots' progress and verdict: \`<shape>.log\`; server log: \`<shape>.server.log\`."
} >"$OUT/RESULTS.md"
echo "== wrote $OUT/RESULTS.md" >&2
if "$BIN/sanctuary-bots" plot -dir "$OUT" -out "$OUT/bench.svg" $SHAPE_NAMES; then
	echo "== wrote $OUT/bench.svg" >&2
fi
cat "$OUT/RESULTS.md"
