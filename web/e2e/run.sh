#!/bin/sh
# Browser end-to-end tests of the web client (node's test runner; playwright-core
# drives Debian's headless Chromium and puppeteer-core its Firefox ESR, both
# with a fake microphone and loopback ICE only; some tests add a pion bot).
#
#   web/e2e/run.sh          install what is missing, build the binaries, run the tests
#   web/e2e/run.sh deps     only install: chromium and firefox-esr (apt-get),
#                           playwright-core and puppeteer-core (npm ci)
#   web/e2e/run.sh test     only build the server and the bots, and test (no network
#                           needed: fits a loopback-only namespace after `run.sh deps`)
# E2E_TESTS selects test files (default: every *.test.js here).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
phase=${1:-all}

# apt_lock_timeout is how long, in seconds, apt-get waits for another
# apt-get or dpkg to release its lock instead of failing at once.
apt_lock_timeout=600

# apt_update runs `apt-get update`, waiting for apt's locks.
# DPkg::Lock::Timeout covers the dpkg locks, but apt (2.6 at least) does
# not wait on the lists lock (/var/lib/apt/lists/lock) that update takes,
# so a failure on that lock is retried for as long.
apt_update() {
	err=$(mktemp)
	waited=0
	until $sudo_cmd env LC_ALL=C apt-get -o DPkg::Lock::Timeout="$apt_lock_timeout" update 2>"$err"; do
		cat "$err" >&2
		if ! grep -q 'Unable to lock directory' "$err" || [ "$waited" -ge "$apt_lock_timeout" ]; then
			rm -f "$err"
			return 1
		fi
		echo "== another apt-get holds the lists lock; retrying in 5 s"
		sleep 5
		waited=$((waited + 5))
	done
	cat "$err" >&2
	rm -f "$err"
}

deps() {
	pkgs=""
	[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || pkgs="chromium"
	[ -x "${FIREFOX_PATH:-/usr/bin/firefox-esr}" ] || pkgs="${pkgs:+$pkgs }firefox-esr"
	if [ -n "$pkgs" ]; then
		echo "== installing $pkgs (apt-get)"
		sudo_cmd=""
		[ "$(id -u)" = 0 ] || sudo_cmd=sudo
		apt_update
		# shellcheck disable=SC2086 # one or two package names
		$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$apt_lock_timeout" \
			install -y --no-install-recommends $pkgs
	fi
	node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
	if [ "$node_major" -lt 20 ]; then
		echo "web/e2e: node 20 or newer is needed (found: $(node --version 2>/dev/null || echo none))" >&2
		exit 1
	fi
	# puppeteer-core asks for node 22 but works on 20 (npm only warns).
	echo "== npm ci (playwright-core and puppeteer-core, pinned; they download no browser)"
	(cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund)
}

run_tests() {
	echo "== building the server and the bots"
	bin_dir=$(mktemp -d)
	trap 'rm -rf "$bin_dir"' EXIT
	(cd "$root" && go build -o "$bin_dir/sanctuary" ./cmd/sanctuary &&
		go build -o "$bin_dir/sanctuary-bots" ./cmd/sanctuary-bots)
	echo "== browser tests"
	cd "$here"
	# shellcheck disable=SC2086 # E2E_TESTS may name several files
	SANCTUARY_BIN="$bin_dir/sanctuary" SANCTUARY_BOTS_BIN="$bin_dir/sanctuary-bots" \
		node --test --test-concurrency=1 ${E2E_TESTS:-.}
}

case "$phase" in
all) deps; run_tests ;;
deps) deps ;;
test) run_tests ;;
*) echo "usage: $0 [deps|test]" >&2; exit 2 ;;
esac
