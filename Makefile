# Sanctuary SFU. `make run` starts a dev server; `make test` installs what
# the tests need and runs the whole suite.

GO      ?= go
BIN     := bin
TESTFLAGS ?= -race -count=1 -timeout 25m
FUZZTIME  ?= 10s

.PHONY: run build test test-fast test-slow fuzz deps deps-redis lint bench bench-pair bench-join bench-livekit clean

run:
	$(GO) run ./cmd/sanctuary

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/sanctuary ./cmd/sanctuary
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/sanctuary-bots ./cmd/sanctuary-bots

# deps installs what the test suite needs on a fresh machine of this kind.
deps: deps-redis
	$(GO) mod download
	$(GO) build ./...
	sh web/e2e/run.sh deps

# deps-redis installs Debian's redis-server when it is missing: the store
# tests (rooms/redisstore) start their own on free loopback ports. apt-get
# waits for another apt-get's locks; update is retried while another holds
# the lists lock, which it does not wait for.
deps-redis:
	@command -v redis-server >/dev/null || { \
		echo "== installing redis-server (apt-get)"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		waited=0; \
		until $$sudo apt-get -o DPkg::Lock::Timeout=600 update; do \
			[ $$waited -lt 600 ] || exit 1; \
			echo "== apt-get update failed (another apt-get?); retrying in 5 s"; sleep 5; waited=$$((waited + 5)); \
		done; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
			install -y --no-install-recommends redis-server; \
	}

# The suite runs inside a network namespace that has only loopback when
# that is possible (root with unshare), so it provably needs no network.
define in_loopback_ns
	@if [ "$$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then \
		echo "== $(1) (network namespace: loopback only)"; \
		unshare -n sh -c 'ip link set lo up && $(2)'; \
	else \
		echo "== $(1)"; \
		sh -c '$(2)'; \
	fi
endef

# The chaos test (two minutes of cuts, outages and moves, in wall time)
# runs in its own process beside the fuzzing, which is bounded by time too:
# the suite is two minutes shorter, and the chaos test meets a busy
# machine, as it must bear. The other Go tests skip it.
test: deps lint
	$(call in_loopback_ns,Go tests,$(GO) test $(TESTFLAGS) -skip "$(CHAOS_TEST)" ./...)
	$(call in_loopback_ns,rooms tests through the Store seam,ROOMS_TEST_STORE=memory $(GO) test $(TESTFLAGS) ./rooms)
	$(call in_loopback_ns,chaos test beside fuzzing ($(FUZZTIME) per target),$(CHAOS_BESIDE_FUZZ))
	$(call in_loopback_ns,browser tests,sh web/e2e/run.sh test)

test-fast: deps
	$(call in_loopback_ns,fast tests,$(GO) test $(TESTFLAGS) -short ./...)

test-slow: deps
	$(call in_loopback_ns,slow tests,$(GO) test $(TESTFLAGS) -run 'E2E|Bots' ./...)
	$(call in_loopback_ns,browser tests,sh web/e2e/run.sh test)

# The fuzz targets, package:Target, run one after the other for FUZZTIME
# each (.ci/fuzz.sh). Their seed corpora (f.Add and testdata/fuzz/<Target>/) also run as
# plain tests in `go test`; a crasher found here is written to testdata/fuzz.
FUZZ_TARGETS := ./signaling:FuzzDispatch ./auth:FuzzNormaliseClaims ./auth:FuzzVerify \
	./auth:FuzzVerifySigned ./auth/agora:FuzzParse ./auth/agora:FuzzBuildParse ./sfu:FuzzMunger
FUZZ_RUN = GO="$(GO)" sh .ci/fuzz.sh $(FUZZTIME) $(FUZZ_TARGETS)

CHAOS_TEST := ^TestE2EChaos$$
CHAOS_BESIDE_FUZZ = log=$$(mktemp); \
	$(GO) test $(TESTFLAGS) -run "$(CHAOS_TEST)" -v ./signaling >$$log 2>&1 & chaos=$$!; \
	fuzz=0; ( $(FUZZ_RUN) ) || fuzz=1; \
	chaos_rc=0; wait $$chaos || chaos_rc=$$?; \
	echo "-- chaos test (./signaling $(CHAOS_TEST)), run beside the fuzzing"; \
	if [ $$chaos_rc = 0 ]; then grep -E "chaos_test.go|^--- |^(ok|PASS)" $$log; else tail -n 300 $$log; fi; rm -f $$log; \
	[ $$fuzz = 0 ] && [ $$chaos_rc = 0 ]

fuzz:
	$(call in_loopback_ns,fuzzing: $(FUZZTIME) per target,$(FUZZ_RUN))

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above are not formatted"; exit 1; }
	$(GO) vet ./...

# bench: the Go benchmarks (the fan-out through real SRTP and sockets runs a
# fixed count, its setup being hundreds of PeerConnections), then the load
# runs with their floor (cmd/sanctuary-bots/bench.sh, BENCHMARKS.md there).
bench: build deps-redis
	$(call in_loopback_ns,Go benchmarks,$(GO) test -run "^$$" -bench "FanoutSRTP" -benchtime 3000x -benchmem ./sfu/ && \
		$(GO) test -run "^$$" -bench "Fanout100|Munger|Move|SelectTick|PeerOffer" -benchmem ./sfu/ && \
		$(GO) test -run "^$$" -bench . -benchmem ./rooms/ ./rooms/redisstore/)
	$(call in_loopback_ns,load runs,./cmd/sanctuary-bots/bench.sh)

# Two server binaries side by side at the same time, for a change whose effect is
# smaller than the machine's drift between runs (cmd/sanctuary-bots/pair.sh):
# make bench-pair OLD=/path/to/the/old/sanctuary [NEW=bin/sanctuary] [PAIR_SHAPE=...]
bench-pair: build
	@test -n "$(OLD)" || { echo "bench-pair: OLD=/path/to/a/server/binary is required"; exit 2; }
	$(call in_loopback_ns,side by side,./cmd/sanctuary-bots/pair.sh $(OLD) $(or $(NEW),$(BIN)/sanctuary))

# Join time in real Chromium and Firefox: Join click → first audio packet, per step
# (web/e2e/jointime.bench.js; JOINS sets the number of joins).
bench-join:
	$(call in_loopback_ns,join time in Chromium,cd web/e2e && node jointime.bench.js)
	$(call in_loopback_ns,join time in Firefox,cd web/e2e && BROWSER=firefox node jointime.bench.js)

# The reference, LiveKit, under bench.sh's shapes on this machine, for side-by-side
# figures: LIVEKIT_SRC=/path/to/a/livekit/checkout make bench-livekit (it builds
# both with the module proxy, then runs in a namespace of its own).
bench-livekit:
	./cmd/sanctuary-bots/livekit/bench.sh

clean:
	rm -rf $(BIN) bench-results bench-livekit
