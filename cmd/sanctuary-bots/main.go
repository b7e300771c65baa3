// Command sanctuary-bots runs a load test against a Sanctuary server: it
// joins N pion bots to one session over loopback, lets the first S of them
// speak, measures a window and prints a report: join and first-audio
// times, loss, latency, renegotiations, leaked (foreign) packets and,
// given the server's pid and metrics URL, its CPU per forwarded packet and
// memory per participant. A listener that may hear more speakers than it
// has slots (K) is owed only what the server put in its slots, so loss
// stays honest with any number of speakers (bots.Report.PacketsExpected).
//
// With -breakouts N, bot 0 (the host) creates N breakout rooms and assigns
// everyone else to them (balanced); the speakers are then bots 1..S,
// spread so every room has some. With -move-every D it moves a random bot
// to another room every D through the window, and the report adds the
// moves and their times (move command sent → the moved bot hears its new
// room); loss then counts only the time each pair of bots was settled in
// the same room.
//
// `sanctuary-bots floor` measures instead what forwarding a packet cannot
// cost less than on this machine (floor.go): the bench quotes the server's
// CPU per packet as a ratio to it. `sanctuary-bots plot` draws the bench's
// figures against participants (plot.go).
//
// Every flag has a SANCTUARY_BOTS_* environment twin (-metrics-url is
// SANCTUARY_BOTS_METRICS_URL); a flag given on the command line wins.
// Prefer SANCTUARY_BOTS_SECRET to -secret: arguments are visible to other
// users of the machine.
//
// It exits 0 when every bot joined, loss was at most 1%, no packet leaked
// and, with breakouts, every command was accepted and every moved bot
// heard its new room; 1 otherwise, saying why on stderr; 2 when it could
// not run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
)

// maxLossPct is the loss above which a run fails.
const maxLossPct = 1.0

// gcPercent is the bots' GC target unless GOGC says otherwise. A load
// generator is as good as it is light: at Go's 100, collections took a
// fifth of the bots' CPU in a join storm without media (2026-11-28), CPU
// that every join in flight waits for. Memory is plentiful beside them.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	rc         bots.RunConfig
	secret     string
	jsonOut    bool
	cpuProfile string
}

// parseOptions reads flags, with defaults from the environment.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("sanctuary-bots", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.rc.URL, "url", "ws://127.0.0.1:8080/ws", "signaling websocket URL")
	fs.StringVar(&o.secret, "secret", "", "HS256 secret the server verifies tokens with (required)")
	fs.StringVar(&o.rc.Session, "session", "", "session to join (default: a fresh one per run)")
	fs.IntVar(&o.rc.Bots, "bots", 10, "bots to join")
	fs.IntVar(&o.rc.Speakers, "speakers", 3, "bots that speak (with more than the session's slots K, each listener is owed only the K it is given)")
	fs.BoolVar(&o.rc.MutedListeners, "muted-listeners", false, "listeners are microphones muted by their track that keep sending digital silence, as browsers do: one frame in ten when the server's offer asks for Opus DTX, else 50 packets a second (default: they send nothing, as our web client muted does)")
	fs.DurationVar(&o.rc.Duration, "duration", 10*time.Second, "measurement window")
	fs.DurationVar(&o.rc.Warmup, "warmup", 2*time.Second, "wait between all connected and the window")
	fs.IntVar(&o.rc.JoinConcurrency, "concurrency", 10, "concurrent joins")
	fs.BoolVar(&o.rc.RelayOnly, "ice-relay-only", false, "send all media through the server's TURN server (ICE transport policy relay)")
	fs.BoolVar(&o.rc.LoopbackOnly, "ice-loopback-only", false, "gather and accept ICE candidates on 127.0.0.1 only (tests, benchmarks); default: every interface")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as one JSON object on stdout")
	fs.IntVar(&o.rc.ServerPID, "server-pid", 0, "server pid, to sample its CPU and RSS from /proc")
	fs.StringVar(&o.rc.MetricsURL, "metrics-url", "", "server /metrics URL, for forwarded packets")
	fs.IntVar(&o.rc.Breakouts, "breakouts", 0, "breakout rooms bot 0 (the host) creates and assigns everyone to (0: none)")
	fs.DurationVar(&o.rc.MoveEvery, "move-every", 0, "with -breakouts: move a random bot to another room this often (0: never)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the bots (go tool pprof) to this file; none: off")
	// Environment twins: applied before parsing, so the command line wins
	// and -h never prints a secret taken from the environment.
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv("SANCTUARY_BOTS_" + name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("SANCTUARY_BOTS_%s=%q: %w", name, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.secret == "" {
		return o, errors.New("a secret is required: -secret or SANCTUARY_BOTS_SECRET")
	}
	o.rc.Secret = []byte(o.secret)
	return o, nil
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "floor":
			return runFloor(args[1:], stdout, stderr)
		case "plot":
			return runPlot(args[1:], stdout, stderr)
		}
	}
	o, err := parseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sanctuary-bots:", err)
		return 2
	}
	o.rc.Progress = stderr
	if o.cpuProfile != "" {
		stopProfile, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "sanctuary-bots:", err)
			return 2
		}
		defer stopProfile()
	}
	rep, err := bots.Run(ctx, o.rc)
	if err != nil && rep.Bots == 0 {
		fmt.Fprintln(stderr, "sanctuary-bots:", err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "sanctuary-bots: run cut short:", err)
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "sanctuary-bots:", err)
			return 2
		}
	} else {
		printTable(stdout, rep)
	}
	if rep.Breakouts == 0 && rep.Slots > 0 && rep.Speakers > rep.Slots {
		fmt.Fprintf(stderr, "note: %d speakers > %d slots: a listener hears only the %d loudest, "+
			"so it is owed only what the server put in its slots\n", rep.Speakers, rep.Slots, rep.Slots)
	}
	reasons := verdict(rep)
	if err != nil {
		reasons = append(reasons, "the run did not complete: "+err.Error())
	}
	for _, r := range reasons {
		fmt.Fprintln(stderr, "FAIL:", r)
	}
	if len(reasons) > 0 {
		return 1
	}
	return 0
}

// startCPUProfile profiles the process's CPU into path until the returned
// function is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// verdict lists why a run failed; empty means it passed.
func verdict(r bots.Report) []string {
	var why []string
	if r.Failed > 0 {
		why = append(why, fmt.Sprintf("%d of %d bots failed to join", r.Failed, r.Bots))
		for _, f := range r.Failures {
			why = append(why, "  "+f)
		}
	}
	if r.LossPct > maxLossPct {
		why = append(why, fmt.Sprintf("loss %.2f%% > %.0f%% (%d of %d packets received)",
			r.LossPct, maxLossPct, r.PacketsReceived, r.PacketsExpected))
	}
	if r.ForeignPackets > 0 {
		why = append(why, fmt.Sprintf("%d packets leaked from outside a bot's audience", r.ForeignPackets))
	}
	if r.MovesUnheard > 0 {
		why = append(why, fmt.Sprintf("%d of %d moved bots never heard the speakers of their new room",
			r.MovesUnheard, r.MovesUnheard+r.MovesTimed))
	}
	for _, f := range r.BreakoutFailures {
		why = append(why, "breakouts: "+f)
	}
	return why
}

// printTable writes the report as an aligned two-column table.
func printTable(w io.Writer, r bots.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	rows := [][2]string{
		{"bots (speakers, slots)", fmt.Sprintf("%d (%d, %d)", r.Bots, r.Speakers, r.Slots)},
		{"joined / connected / failed", fmt.Sprintf("%d / %d / %d", r.Joined, r.Connected, r.Failed)},
		{"join ms p50 / p99", f(r.JoinMsP50) + " / " + f(r.JoinMsP99)},
		{"answer sent ms p50 / p99", f(r.AnswerMsP50) + " / " + f(r.AnswerMsP99)},
		{"ICE connected ms p50 / p99", f(r.ICEMsP50) + " / " + f(r.ICEMsP99)},
		{"connected ms p50 / p99", f(r.ConnectMsP50) + " / " + f(r.ConnectMsP99)},
		{"first audio ms p50 / p99", f(r.FirstAudioMsP50) + " / " + f(r.FirstAudioMsP99)},
		{"window s", f(r.DurationS)},
		{"packets sent / expected / received", fmt.Sprintf("%d / %d / %d", r.PacketsSent, r.PacketsExpected, r.PacketsReceived)},
		{lossLabel(r), f(r.LossPct)},
		{"latency ms p50 / p99", f(r.LatencyMsP50) + " / " + f(r.LatencyMsP99)},
		{"renegotiations", strconv.FormatUint(r.Renegotiations, 10)},
		{"foreign packets", strconv.FormatUint(r.ForeignPackets, 10)},
		{"seq gaps / backwards / ssrc changes", fmt.Sprintf("%d / %d / %d", r.SeqGaps, r.SeqBackwards, r.SSRCChanges)},
		{"unrecognised packets", strconv.FormatUint(r.Unrecognised, 10)},
	}
	if r.Breakouts > 0 {
		rows = append(rows,
			[2]string{"breakout rooms", strconv.Itoa(r.Breakouts)},
			[2]string{"moves (timed / unheard)", fmt.Sprintf("%d (%d / %d)", r.Moves, r.MovesTimed, r.MovesUnheard)},
			[2]string{"move ms p50 / p99", f(r.MoveMsP50) + " / " + f(r.MoveMsP99)},
		)
	}
	if r.ServerForwardedPPS > 0 || r.ServerRSSMB > 0 {
		rows = append(rows,
			[2]string{"server CPU µs / packet", f(r.ServerCPUUsPerPacket)},
			[2]string{"server CPU % of a core", f(r.ServerCPUPct)},
			[2]string{"server forwarded pps", f(r.ServerForwardedPPS)},
			[2]string{"server RSS MB", f(r.ServerRSSMB)},
			[2]string{"server RSS kB / participant", f(r.ServerRSSKBPerParticipant)},
		)
	}
	if r.BotsCPUPct > 0 {
		rows = append(rows, [2]string{"bots CPU % of a core", f(r.BotsCPUPct)})
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	_ = tw.Flush()
}

// lossLabel names the loss row: in a breakout run loss counts settled time
// only (see bots.Report.PacketsExpected).
func lossLabel(r bots.Report) string {
	if r.Breakouts > 0 {
		return "loss % (settled in rooms)"
	}
	return "loss %"
}
