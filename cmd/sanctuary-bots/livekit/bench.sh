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

for shape in $SHAPES; do
	IFS=: read -r name speakers listeners <<<"$shape"
	unshare -n sh -c "
		ip link set lo up
		taskset -c 0 '$work/livekit-server' --config '$work/livekit.yaml' > '$OUT/$name.server.log' 2>&1 &
		sp=\$!
		sleep 3
		taskset -c 1 timeout 300 '$work/lkbots.bin' -secret '$secret' -speakers $speakers -listeners $listeners \
			-window ${WINDOW}s -server-pid \$sp > '$OUT/$name.json' 2> '$OUT/$name.log'
		rc=\$?
		kill \$sp; wait \$sp
		exit \$rc
	"
	echo "$name $(jq -c . "$OUT/$name.json")"
done
