package bots

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// Run defaults and fixed delays.
const (
	defaultJoinConcurrency = 10
	defaultWarmup          = 2 * time.Second
	defaultDuration        = 10 * time.Second
	joinTimeout            = 15 * time.Second       // per bot: dial → answer sent
	connectTimeout         = 20 * time.Second       // per bot: answer → media connected
	windowLead             = 100 * time.Millisecond // SetWindow reaches every bot before the window opens
	drainQuiet             = time.Second            // after the window: packets of it still arriving keep the run waiting, until none came for this long
	drainMax               = 15 * time.Second       // bounds that wait
	progressInterval       = time.Second
	tokenMargin            = 10 * time.Minute // tokens outlive the run by this much
	loudestLevel           = 10               // -dBov of speaker 0; each next speaker is levelStep quieter
	levelStep              = 3
	maxBreakouts           = 50 // rooms one breakouts.create opens at most
)

// RunConfig describes a load run.
type RunConfig struct {
	URL      string // signaling websocket
	Secret   []byte // HS256 secret the server verifies tokens with
	Session  string // session to join; "" means a fresh one per run
	Bots     int    // bots to join (≥ 1)
	Speakers int    // the first Speakers bots speak for the whole run
	// MutedListeners makes every other bot a microphone muted by its track
	// that keeps sending digital silence, as browsers do (Config.Muted),
	// instead of sending nothing.
	MutedListeners bool
	Duration       time.Duration // measurement window; 0 means 10 s
	Warmup         time.Duration // between all connected and the window; 0 means 2 s
	// JoinConcurrency bounds concurrent joins; 0 means 10.
	JoinConcurrency int
	// LoopbackOnly restricts the bots' ICE to 127.0.0.1 (tests, benchmarks);
	// by default they gather on every interface and reach any server.
	LoopbackOnly bool
	// RelayOnly sends every bot's media through the server's TURN server.
	RelayOnly bool
	// Progress receives a line per second; nil means none.
	Progress io.Writer
	// ServerPID, when set, is the server process sampled for CPU and RSS.
	ServerPID int
	// MetricsURL, when set, is scraped for sanctuary_rtp_packets_forwarded_total.
	MetricsURL string
	// Breakouts, when > 0, makes a breakout run: once everyone joined, bot
	// 0 (the host, who then neither speaks nor is moved) creates this many
	// rooms and assigns everyone else (balanced), and the speakers are bots
	// 1..Speakers, spread so every room has some where possible. See
	// Report.PacketsExpected for how loss follows the rooms.
	Breakouts int
	// MoveEvery, in a breakout run, is how often the host moves a random
	// bot to another room during the window; 0 means never. The server
	// allows 20 messages a second per socket by default.
	MoveEvery time.Duration
}

func (rc *RunConfig) defaults() error {
	if rc.URL == "" || len(rc.Secret) == 0 {
		return errors.New("bots: run needs a URL and a secret")
	}
	if rc.Bots < 1 || rc.Speakers < 0 || rc.Speakers > rc.Bots {
		return fmt.Errorf("bots: run needs 1 ≤ bots and 0 ≤ speakers ≤ bots (got %d, %d)", rc.Bots, rc.Speakers)
	}
	if rc.Breakouts < 0 || rc.Breakouts > maxBreakouts || rc.MoveEvery < 0 {
		return fmt.Errorf("bots: run needs 0 ≤ breakouts ≤ %d and move-every ≥ 0 (got %d, %v)",
			maxBreakouts, rc.Breakouts, rc.MoveEvery)
	}
	if rc.MoveEvery > 0 && rc.Breakouts == 0 {
		return errors.New("bots: moves need breakout rooms")
	}
	if rc.Breakouts > 0 && (rc.Bots < 2 || rc.Speakers > rc.Bots-1) {
		return fmt.Errorf("bots: a breakout run needs a host and 0 ≤ speakers ≤ bots − 1 (got %d bots, %d speakers)",
			rc.Bots, rc.Speakers)
	}
	if rc.Duration <= 0 {
		rc.Duration = defaultDuration
	}
	if rc.Warmup <= 0 {
		rc.Warmup = defaultWarmup
	}
	if rc.JoinConcurrency <= 0 {
		rc.JoinConcurrency = defaultJoinConcurrency
	}
	return nil
}

// Run performs a load run: it mints a token per bot (user ids
// r<run>-bot-<i>; bot 0 is the host, the others participants), joins bot 0
// and then the others with bounded concurrency, waits for their media,
// warms up, measures a window of rc.Duration in which the first
// rc.Speakers bots speak at distinct levels (speaker 0 loudest) and every
// bot listens, waits for packets in flight and summarises. Bots that fail
// are reported, not fatal; Run returns an error only when it cannot run
// at all or ctx ends (with the report so far).
//
// With rc.Breakouts the host sets the rooms up before the warm-up (see
// RunConfig.Breakouts) and moves bots through the window (MoveEvery); the
// server figures are then those of a window with moves.
func Run(ctx context.Context, rc RunConfig) (Report, error) {
	if err := rc.defaults(); err != nil {
		return Report{}, err
	}
	api, err := NewAPI(rc.LoopbackOnly)
	if err != nil {
		return Report{}, err
	}
	cert, err := sfu.NewCertificate()
	if err != nil {
		return Report{}, err
	}
	runID := rand.Uint32()
	prefix := fmt.Sprintf("r%08x", runID)
	if rc.Session == "" {
		rc.Session = "load-" + prefix
	}
	r := &runner{rc: rc, bots: make([]atomic.Pointer[Bot], rc.Bots), failures: make([]string, rc.Bots)}
	if rc.Breakouts > 0 {
		r.br = newBreakoutRun(rc, runID)
	}
	defer r.closeAll()
	tokens := make([]string, rc.Bots)
	for i := range tokens {
		role := auth.RoleParticipant
		if i == 0 {
			role = auth.RoleHost
		}
		tokens[i], err = auth.Mint(rc.Secret, auth.MintOptions{
			UserID: fmt.Sprintf("%s-bot-%d", prefix, i), Alias: fmt.Sprintf("bot %d", i),
			Role: role, Session: rc.Session, TTL: rc.Warmup + rc.Duration + tokenMargin,
		})
		if err != nil {
			return Report{}, err
		}
	}
	probe := newServerProbe(rc.ServerPID, rc.MetricsURL)
	self := newServerProbe(os.Getpid(), "")
	base, err := probe.sample(ctx)
	r.note(err)

	stopProgress := r.startProgress()
	defer stopProgress()
	cfg := func(i int) Config {
		c := Config{URL: rc.URL, Token: tokens[i], Session: rc.Session, Index: i, RunID: runID, API: api,
			Certificate: cert, RelayOnly: rc.RelayOnly,
			Speak: i < rc.Speakers, Level: uint8(min(loudestLevel+levelStep*i, levelSilence-1))}
		if r.br != nil { // speakers 1..Speakers, speaker 1 loudest
			c.Speak, c.Level = r.br.speaks(i), uint8(min(loudestLevel+levelStep*max(i-1, 0), levelSilence-1))
		}
		if rc.MutedListeners && !c.Speak {
			c.Speak, c.Muted = true, true
		}
		if r.br != nil {
			r.br.hook(&c)
		}
		return c
	}
	r.joinAll(ctx, cfg)
	if err := ctx.Err(); err != nil {
		return r.report(base, base, base), err
	}
	if r.br != nil {
		r.br.setup(ctx, r)
	}
	if err := sleepCtx(ctx, rc.Warmup); err != nil {
		return r.report(base, base, base), err
	}
	from := time.Now().Add(windowLead)
	to := from.Add(rc.Duration)
	r.each(func(b *Bot) { b.SetWindow(from, to) })
	if r.br != nil {
		r.br.window.Store(&measureWindow{from: from.UnixNano(), to: to.UnixNano()})
	}
	if err := sleepCtx(ctx, time.Until(from)); err != nil {
		return r.report(base, base, base), err
	}
	start, err := probe.sample(ctx)
	r.note(err)
	selfStart, _ := self.sample(ctx) // best effort: a figure about the bots, not the server
	if r.br != nil {
		err = r.br.moveUntil(ctx, to) // returns at to
	} else {
		err = sleepCtx(ctx, time.Until(to))
	}
	if err != nil {
		return r.report(base, start, start), err
	}
	end, err := probe.sample(ctx)
	r.note(err)
	selfEnd, _ := self.sample(ctx)
	r.botsCPUPct = cpuPct(selfStart, selfEnd, rc.Duration)
	err = r.drain(ctx)
	return r.report(base, start, end), err
}

// drain waits for the packets sent within the window that are still on
// their way: until the bots' count of them has not grown for drainQuiet,
// or drainMax passed. A loaded machine delays packets; a late packet is
// latency, not loss.
func (r *runner) drain(ctx context.Context) error {
	deadline := time.Now().Add(drainMax)
	last, quietSince := r.inWindow(), time.Now()
	for time.Now().Before(deadline) {
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
		if n := r.inWindow(); n != last {
			last, quietSince = n, time.Now()
		} else if time.Since(quietSince) >= drainQuiet {
			return nil
		}
	}
	return nil
}

// inWindow is how many packets sent within the window the bots received.
func (r *runner) inWindow() uint64 {
	var n uint64
	for i := range r.bots {
		if b := r.bots[i].Load(); b != nil {
			n += b.receivedInWindowTotal()
		}
	}
	return n
}

// runner is the state of one Run.
type runner struct {
	rc       RunConfig
	bots     []atomic.Pointer[Bot] // nil until joined
	mu       sync.Mutex            // guards failures and probeErrs
	failures []string              // per bot; "" while fine
	probe    []string              // server measurement errors
	br       *breakoutRun          // nil unless rc.Breakouts > 0; see its ownership rules

	botsCPUPct float64 // this process's CPU over the window; set once it ended
}

// fail records why bot i failed.
func (r *runner) fail(i int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures[i] = fmt.Sprintf("bot %d: %v", i, err)
}

// note records a server measurement error.
func (r *runner) note(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.probe = append(r.probe, err.Error())
}

// joinAll joins bot 0 first (the host, who may have to create the
// session), then the others with bounded concurrency, and waits for the
// media of every joined bot.
func (r *runner) joinAll(ctx context.Context, cfg func(int) Config) {
	var connecting sync.WaitGroup
	join := func(i int) {
		dctx, cancel := context.WithTimeout(ctx, joinTimeout)
		b, err := Dial(dctx, cfg(i))
		cancel()
		if err != nil {
			r.fail(i, err)
			return
		}
		r.bots[i].Store(b)
		connecting.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, connectTimeout)
			defer cancel()
			if err := b.WaitConnected(cctx); err != nil {
				r.fail(i, err)
			}
		})
	}
	join(0)
	sem := make(chan struct{}, r.rc.JoinConcurrency)
	var joining sync.WaitGroup
	for i := 1; i < r.rc.Bots && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		joining.Go(func() {
			defer func() { <-sem }()
			join(i)
		})
	}
	joining.Wait()
	connecting.Wait()
}

// each calls f for every joined bot.
func (r *runner) each(f func(*Bot)) {
	for i := range r.bots {
		if b := r.bots[i].Load(); b != nil {
			f(b)
		}
	}
}

// closeAll closes every bot, concurrently.
func (r *runner) closeAll() {
	var wg sync.WaitGroup
	r.each(func(b *Bot) { wg.Go(func() { _ = b.Close() }) })
	wg.Wait()
}

// startProgress writes a progress line every second until stopped.
func (r *runner) startProgress() (stop func()) {
	if r.rc.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var joined, connected int
			var received, foreign uint64
			r.each(func(b *Bot) {
				p := b.progress()
				if p.joined {
					joined++
				}
				if p.connected {
					connected++
				}
				received += p.received
				foreign += p.foreign
			})
			moves := ""
			if r.br != nil {
				moves = fmt.Sprintf(" moves %d", r.br.moved.Load())
			}
			fmt.Fprintf(r.rc.Progress, "%6.1fs joined %d/%d connected %d received %d foreign %d%s\n",
				time.Since(t0).Seconds(), joined, r.rc.Bots, connected, received, foreign, moves)
		}
	})
	return func() { close(done); wg.Wait() }
}

// report summarises the run from every bot's stats and the server samples.
func (r *runner) report(base, start, end serverSample) Report {
	stats := make([]Stats, len(r.bots))
	for i := range r.bots {
		if b := r.bots[i].Load(); b != nil {
			stats[i] = b.Stats()
		} else {
			stats[i] = Stats{Index: i}
		}
	}
	rep := Summarize(stats, r.rc.Duration)
	if r.br != nil {
		r.br.fill(&rep, stats)
	}
	serverFigures(&rep, base, start, end, r.rc.Duration, rep.Joined)
	rep.BotsCPUPct = r.botsCPUPct
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range r.failures {
		if f == "" && stats[i].Joined && !stats[i].Connected {
			f = fmt.Sprintf("bot %d: media not connected", i)
		}
		if f != "" && len(rep.Failures) < maxFailures {
			rep.Failures = append(rep.Failures, f)
		}
	}
	for _, p := range r.probe {
		if len(rep.Failures) < maxFailures {
			rep.Failures = append(rep.Failures, "server: "+p)
		}
	}
	return rep
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
