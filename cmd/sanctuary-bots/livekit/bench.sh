#!/usr/bin/env bash
# bench.sh: the reference, LiveKit, under the shapes of sanctuary-bots'
# bench.sh, on this machine and with the same method, so that the two
# are compared in one session (BENCHMARKS.md, "LiveKit side by side").
#
#   LIVEKIT_SRC=/path/to/livekit cmd/sanctuary-bots/livekit/bench.sh
#
# LIVEKIT_SRC is a checkout of github.com/livekit/livekit at the tag to
# measure (v1.13.5 in BENCHMARKS.md). It builds livekit-server from it,
# and lkbots (main.go) against LiveKit's Go SDK with one line added: the
# SDK's pion leaves loopback addresses out of its ICE candidates, and the
# namespace the runs use has no other address. Both need the Go module
# proxy the first time.
#
# For each shape, in a network namespace with loopback only: the server
# pinned to core 0 with its single UDP port, lkbots pinned to core 1;
# the joins, 5 s for the audio to settle, then a window (BENCH_DURATION,
# default 20 s). Each shape's JSON goes to $BENCH_OUT (default
# bench-livekit) and a line of it to the output.
#
# Environment: BENCH_SHAPES (name:speakers:listeners, default the three
# of issue 12), BENCH_DURATION, BENCH_OUT.
#
# PAIR_SANCTUARY=path/to/sanctuary (with PAIR_BOTS, default
# bin/sanctuary-bots) runs Sanctuary side by side with LiveKit, at the same
# time: its server on core 0 beside LiveKit's (K = the shape's speakers, as
# in bench.sh), its bots on core 1, started PAIR_DELAY seconds (default 6)
# after LiveKit's so that the two windows overlap. At a few thousand
# packets a second one run's CPU drifts by a third from one minute to the
# next on a shared VM; side by side, both servers meet the same machine,
# and the ratio of their CPU per packet is the figure (it prints it). Both
# share core 0, so the absolute figures are not those of separate runs.
# The overlap is close at s-2x20; at 110 participants one's joins fall in
# the other's window.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${LIVEKIT_SRC:?set LIVEKIT_SRC to a checkout of github.com/livekit/livekit}"
OUT=$(mkdir -p "${BENCH_OUT:-bench-livekit}" && cd "${BENCH_OUT:-bench-livekit}" && pwd)
SHAPES=${BENCH_SHAPES:-"s-2x20:2:20 a-5x50:5:50 b-10x100:10:100"}
WINDOW=${BENCH_DURATION:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$LIVEKIT_SRC" && go build -o "$work/livekit-server" ./cmd/server)

sdk=$(cd "$here" && go list -m -f '{{.Dir}}' github.com/livekit/server-sdk-go/v2)
cp -r "$sdk" "$work/sdk"
chmod -R u+w "$work/sdk"
sed -i 's/^\(\tse\.SetICETimeouts(.*)\)$/\1\n\tse.SetIncludeLoopbackCandidate(true)/' "$work/sdk/transport.go"
grep -q 'SetIncludeLoopbackCandidate(true)' "$work/sdk/transport.go" ||
	{ echo "livekit bench: the SDK's transport.go has changed; patch it by hand" >&2; exit 1; }
mkdir "$work/lkbots"
cp "$here/main.go" "$here/go.mod" "$here/go.sum" "$work/lkbots/"
(cd "$work/lkbots" && go mod edit -replace "github.com/livekit/server-sdk-go/v2=$work/sdk" &&
	go build -o "$work/lkbots.bin" .)

secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$work/livekit.yaml" <<YAML
port: 7880
bind_addresses: [127.0.0.1]
rtc:
  udp_port: 7882
  tcp_port: 7881
  use_external_ip: false
  enable_loopback_candidate: true
keys:
  devkey: $secret
logging:
  level: warn
YAML

pair=""
if [[ -n ${PAIR_SANCTUARY:-} ]]; then
	bots=$(cd "$(dirname "${PAIR_BOTS:-bin/sanctuary-bots}")" && pwd)/$(basename "${PAIR_BOTS:-bin/sanctuary-bots}")
	sanctuary=$(cd "$(dirname "$PAIR_SANCTUARY")" && pwd)/$(basename "$PAIR_SANCTUARY")
	[[ -x $sanctuary && -x $bots ]] || { echo "livekit bench: $PAIR_SANCTUARY or $bots is not an executable" >&2; exit 2; }
	pair=1
fi

for shape in $SHAPES; do
	IFS=: read -r name speakers listeners <<<"$shape"
	side=""
	if [[ -n $pair ]]; then # Sanctuary beside it: its own ports, K = speakers
		side="
		taskset -c 0 '$sanctuary' -slots $speakers -jwt-secret '$secret' -dev=false -ice-loopback-only \
			-listen 127.0.0.1:18080 -udp-port 17882 -tcp-port 17881 -log-level warn > '$OUT/$name.sanctuary.server.log' 2>&1 &
		ss=\$!
		sleep ${PAIR_DELAY:-6}
		SANCTUARY_BOTS_SECRET='$secret' taskset -c 1 timeout 300 '$bots' -url ws://127.0.0.1:18080/ws -ice-loopback-only \
			-session pair -bots $((speakers + listeners)) -speakers $speakers -duration ${WINDOW}s -warmup 3s -json \
			-server-pid \$ss -metrics-url http://127.0.0.1:18080/metrics > '$OUT/$name.sanctuary.json' 2> '$OUT/$name.sanctuary.log'
		kill \$ss; wait \$ss"
	fi
	unshare -n sh -c "
		ip link set lo up
		taskset -c 0 '$work/livekit-server' --config '$work/livekit.yaml' > '$OUT/$name.server.log' 2>&1 &
		sp=\$!
		sleep 3
		taskset -c 1 timeout 300 '$work/lkbots.bin' -secret '$secret' -speakers $speakers -listeners $listeners \
			-window ${WINDOW}s -server-pid \$sp > '$OUT/$name.json' 2> '$OUT/$name.log' &
		lb=\$!
		$side
		wait \$lb
		rc=\$?
		kill \$sp; wait \$sp
		exit \$rc
	"
	echo "$name $(jq -c . "$OUT/$name.json")"
	if [[ -n $pair ]]; then
		echo "$name sanctuary beside it: $(jq -c '{server_forwarded_pps, server_cpu_us_per_packet, server_cpu_pct, server_rss_kb_per_participant, loss_pct}' "$OUT/$name.sanctuary.json")"
		jq -rn --slurpfile l "$OUT/$name.json" --slurpfile s "$OUT/$name.sanctuary.json" --arg n "$name" \
			'"\($n): Sanctuary ÷ LiveKit, CPU per forwarded packet, side by side: \($s[0].server_cpu_us_per_packet / $l[0].server_cpu_us_per_packet * 100 | round / 100)"'
	fi
done
