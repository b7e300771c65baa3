package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
)

// The acceptance run: the bots command against a running server,
// 20 bots, 3 speakers, 20 s: no failed join, loss < 1%, zero foreign
// packets. Both binaries are built as a user builds them and talk over
// loopback; the server is stopped the way an operator stops it.
func TestBotsCommandAgainstRunningServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries and runs a 20 s load")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	serverBin, botsBin := buildBoth(ctx, t)

	const secret = "command-test-secret-0123456789abcdef"
	srv := startServer(ctx, t, serverBin, "-jwt-secret", secret, "-dev=false", "-ice-loopback-only")
	addr := srv.addr

	var stdout, stderr bytes.Buffer
	run := exec.CommandContext(ctx, botsBin,
		"-url", "ws://"+addr+"/ws", "-secret", secret, "-session", "cmdtest", "-ice-loopback-only",
		"-bots", "20", "-speakers", "3", "-duration", "20s", "-json",
		"-server-pid", strconv.Itoa(srv.cmd.Process.Pid), "-metrics-url", "http://"+addr+"/metrics")
	run.Stdout, run.Stderr = &stdout, &stderr
	err := run.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("bots: %v\n%s", err, stderr.String())
	}
	if code := run.ProcessState.ExitCode(); code != 0 {
		t.Errorf("bots exited %d; stderr:\n%s", code, stderr.String())
	}
	rep := decodeOneReport(t, stdout.Bytes())
	t.Logf("%+v", rep)
	if rep.Bots != 20 || rep.Joined != 20 || rep.Connected != 20 || rep.Failed != 0 || len(rep.Failures) != 0 {
		t.Errorf("bots %d joined %d connected %d failed %d: %v", rep.Bots, rep.Joined, rep.Connected,
			rep.Failed, rep.Failures)
	}
	if rep.Speakers != 3 || rep.PacketsReceived == 0 || rep.LossPct >= 1 {
		t.Errorf("speakers %d, received %d of %d, loss %.2f%%", rep.Speakers, rep.PacketsReceived,
			rep.PacketsExpected, rep.LossPct)
	}
	if rep.ForeignPackets != 0 || rep.Renegotiations != 0 {
		t.Errorf("foreign packets %d, renegotiations %d", rep.ForeignPackets, rep.Renegotiations)
	}
	if rep.ServerCPUUsPerPacket <= 0 || rep.ServerForwardedPPS <= 0 || rep.ServerRSSMB <= 0 ||
		rep.ServerRSSKBPerParticipant <= 0 {
		t.Errorf("server figures missing: CPU %.2f µs/packet, %.0f packets/s, RSS %.1f MB, %.0f KB/participant",
			rep.ServerCPUUsPerPacket, rep.ServerForwardedPPS, rep.ServerRSSMB, rep.ServerRSSKBPerParticipant)
	}

	srv.stop(ctx, t)
}

// A server started with nothing but a secret (not dev mode: ICE on every
// interface) and bots with their defaults (ICE on every interface) find
// each other: the bots load-test a server as deployed. It sends to every
// address of every interface that is up, so it runs only where loopback is
// the only one (make test runs the suite in such a network namespace).
func TestBotsReachAServerWithOnlyASecret(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	if ifc := upInterfacesBesidesLoopback(t); ifc != "" {
		t.Skipf("interface %s is up: this test sends on every interface, so it runs only in a loopback-only network namespace (make test)", ifc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	serverBin, botsBin := buildBoth(ctx, t)
	const secret = "only-a-secret-0123456789abcdef"
	srv := startServer(ctx, t, serverBin, "-jwt-secret", secret)

	var stdout, stderr bytes.Buffer
	run := exec.CommandContext(ctx, botsBin, "-url", "ws://"+srv.addr+"/ws", "-secret", secret,
		"-bots", "4", "-speakers", "1", "-warmup", "500ms", "-duration", "3s", "-json")
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		t.Errorf("bots: %v\n%s", err, stderr.String())
	}
	rep := decodeOneReport(t, stdout.Bytes())
	if rep.Joined != 4 || rep.Connected != 4 || rep.PacketsReceived == 0 || rep.ForeignPackets != 0 {
		t.Errorf("joined %d connected %d received %d foreign %d: %v", rep.Joined, rep.Connected,
			rep.PacketsReceived, rep.ForeignPackets, rep.Failures)
	}
	srv.stop(ctx, t)
}

// Behind a NAT that lets nothing but TURN through: bots that may use relay
// candidates only get the embedded TURN server from their welcome (the
// server started with -turn-port) and hear each other through it.
func TestBotsThroughEmbeddedTURN(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	serverBin, botsBin := buildBoth(ctx, t)
	const secret = "turn-command-secret-0123456789abcdef"
	srv := startServer(ctx, t, serverBin, "-jwt-secret", secret, "-dev=false", "-ice-loopback-only",
		"-udp-port", "0", "-tcp-port", "0", "-turn-port", strconv.Itoa(freePort(t)))

	var stdout, stderr bytes.Buffer
	run := exec.CommandContext(ctx, botsBin, "-url", "ws://"+srv.addr+"/ws", "-secret", secret,
		"-ice-loopback-only", "-ice-relay-only", "-bots", "3", "-speakers", "1", "-warmup", "500ms", "-duration", "3s", "-json")
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		t.Errorf("bots: %v\n%s", err, stderr.String())
	}
	rep := decodeOneReport(t, stdout.Bytes())
	if rep.Joined != 3 || rep.Connected != 3 || rep.PacketsReceived == 0 || rep.LossPct >= 1 || rep.ForeignPackets != 0 {
		t.Errorf("joined %d connected %d received %d loss %.1f%% foreign %d: %v", rep.Joined, rep.Connected,
			rep.PacketsReceived, rep.LossPct, rep.ForeignPackets, rep.Failures)
	}
	srv.stop(ctx, t)
}

// upInterfacesBesidesLoopback names an interface other than loopback that
// is up with an address, or returns "".
func upInterfacesBesidesLoopback(t *testing.T) string {
	ifcs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifcs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if addrs, _ := ifc.Addrs(); len(addrs) > 0 {
			return ifc.Name
		}
	}
	return ""
}

// serverProcess is the server binary running for a test.
type serverProcess struct {
	cmd     *exec.Cmd
	addr    string
	log     bytes.Buffer // written by exec's copier until Wait returns
	err     error        // set before exited is closed
	exited  chan struct{}
	stopped bool
}

// startServer runs the server binary on a free loopback port with args and
// waits until it is healthy. The test's cleanup kills it if stop was not
// called, and then shows its log.
func startServer(ctx context.Context, t *testing.T, bin string, args ...string) *serverProcess {
	t.Helper()
	p := &serverProcess{addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), exited: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, append([]string{"-listen", p.addr}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		if !p.stopped { // a failed test: the server must not outlive it
			_ = p.cmd.Process.Kill()
			<-p.exited
			t.Logf("server log:\n%s", p.log.String())
		}
	})
	waitHealthy(ctx, t, "http://"+p.addr+"/healthz", p.exited)
	return p
}

// stop stops the server the way an operator does (SIGTERM) and checks that
// it exits cleanly.
func (p *serverProcess) stop(ctx context.Context, t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		p.stopped = true
		if p.err != nil {
			t.Errorf("server after SIGTERM: %v\n%s", p.err, p.log.String())
		}
	case <-ctx.Done():
		t.Fatal("server did not stop after SIGTERM")
	}
}

// buildBoth builds the server and the bots as a user builds them, into a
// temporary folder, and returns their paths.
func buildBoth(ctx context.Context, t *testing.T) (serverBin, botsBin string) {
	t.Helper()
	root := moduleRoot(ctx, t)
	dir := t.TempDir()
	serverBin, botsBin = filepath.Join(dir, "sanctuary"), filepath.Join(dir, "sanctuary-bots")
	goBuild(ctx, t, root, serverBin, "./cmd/sanctuary")
	goBuild(ctx, t, root, botsBin, "./cmd/sanctuary-bots")
	return serverBin, botsBin
}

// moduleRoot is the directory of the go.mod this test belongs to.
func moduleRoot(ctx context.Context, t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == "/dev/null" {
		t.Fatalf("go env GOMOD: %q, %v", gomod, err)
	}
	return filepath.Dir(gomod)
}

// goBuild builds pkg of the module at root into out.
func goBuild(ctx context.Context, t *testing.T, root, out, pkg string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitHealthy polls url until it answers 200, the server exits, or ctx
// ends (bounded to 30 s).
func waitHealthy(ctx context.Context, t *testing.T, url string, exited <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatal("server exited before it was healthy")
		case <-ctx.Done():
			t.Fatalf("server not healthy at %s", url)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// decodeOneReport parses stdout, which must hold exactly one JSON object.
func decodeOneReport(t *testing.T, stdout []byte) bots.Report {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(stdout))
	var rep bots.Report
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("stdout holds more than one JSON object:\n%s", stdout)
	}
	return rep
}

// SIGTERM with a participant connected: /readyz turns 503, the participant
// is told shutting_down and its socket closed, audio goes on during the
// drain, and the server exits cleanly once the record has left (its grace
// period), well within -shutdown-timeout. (Audio during the drain is
// counted in signaling's TestE2EShutdownDrains.)
func TestServerDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	serverBin, _ := buildBoth(ctx, t)
	const secret = "drain-command-secret-0123456789abcdef"
	srv := startServer(ctx, t, serverBin, "-jwt-secret", secret, "-dev=false", "-ice-loopback-only",
		"-udp-port", "0", "-tcp-port", "0", "-reconnect-grace", "2s", "-shutdown-timeout", "2m")
	api, err := bots.NewAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	var told atomic.Bool
	dial := func(i int) *bots.Bot {
		tok, err := auth.Mint([]byte(secret), auth.MintOptions{UserID: fmt.Sprint("drain-", i), Session: "drain",
			Role: auth.RoleParticipant, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		b, err := bots.Dial(ctx, bots.Config{URL: "ws://" + srv.addr + "/ws", Token: tok, Session: "drain",
			Index: i, Speak: true, Level: 30, API: api,
			OnMessage: func(typ string, raw []byte) {
				if typ == "error" && strings.Contains(string(raw), `"shutting_down"`) && i == 0 {
					told.Store(true)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	a, b := dial(0), dial(1)
	for _, x := range []*bots.Bot{a, b} {
		if err := x.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
	case <-ctx.Done():
		t.Fatal("the socket stayed open after SIGTERM")
	}
	if !told.Load() {
		t.Error("the participant was not told shutting_down")
	}
	if resp, err := http.Get("http://" + srv.addr + "/readyz"); err == nil {
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz during the drain: %d, want 503", resp.StatusCode)
		}
		resp.Body.Close()
	} // else: the drain already ended and the server is gone
	select {
	case <-srv.exited:
	case <-ctx.Done():
		t.Fatal("the server did not exit")
	}
	srv.stopped = true
	if srv.err != nil {
		t.Errorf("server exit: %v\n%s", srv.err, srv.log.String())
	}
	if log := srv.log.String(); !strings.Contains(log, "msg=stopped") || strings.Contains(log, "still connected") {
		t.Errorf("the server did not drain before its timeout:\n%s", log)
	}
}
