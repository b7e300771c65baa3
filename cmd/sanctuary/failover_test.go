package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore/redistest"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// Failover test shape.
const (
	foNodes     = 3
	foSessions  = 6 // placed over the nodes by load
	foPerSess   = 4 // host and moderator in main; two participants in a breakout room
	foLeaseTTL  = 2 * time.Second
	foPatience  = 90 * time.Second // bounds every wait; reached only when failover fails
	foPollEvery = 50 * time.Millisecond
)

// foUsers are the users of each session, by index in it: their role and
// whether they go to the breakout room.
var foUsers = [foPerSess]struct {
	name, role string
	breakout   bool
}{{"host", "host", false}, {"mod", "moderator", false}, {"p1", "participant", true}, {"p2", "participant", true}}

// foMate is the index in its session of the one bot a bot shares its room
// with: host and moderator, p1 and p2.
func foMate(j int) int { return j ^ 1 }

// TestFailoverKilledNode: three server processes on one redis-server,
// pion bots in sessions on all three (a host and a moderator in the main
// room, two participants in a breakout room). One node is killed with
// SIGKILL. Every bot of its sessions comes back by itself (bots.Keeper:
// through the node URLs in turn, past session_moving, following
// redirects) with the same participant id, role and room, and hears its
// room-mate again; no user has two records, and nothing leaks between
// rooms. The sessions of the other nodes are untouched: no socket of
// theirs dropped, their state did not move. Failover times (kill → first
// packet heard from the room-mate) are logged.
func TestFailoverKilledNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and runs three processes")
	}
	bin := buildServer(t)
	r := redistest.Start(t)
	nodes := make([]*procNode, foNodes)
	for i := range nodes {
		nodes[i] = startProcNode(t, bin, r.URL())
	}
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.ws)
	}
	ctx, cancel := context.WithTimeout(context.Background(), foPatience)
	defer cancel()
	api, err := bots.NewAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	h := newHearing(foSessions * foPerSess)
	const runID = 0xfa11
	keepers := make([]*bots.Keeper, foSessions*foPerSess)
	ctls := make([]*bots.Controller, foSessions)
	hostTokens := make([]string, foSessions)
	for s := range foSessions {
		for j, u := range foUsers {
			i := s*foPerSess + j
			role := u.role
			if role == "moderator" {
				role = "participant" // the host makes it moderator below
			}
			tok, err := auth.Mint([]byte(testSecret), auth.MintOptions{UserID: u.name + "-" + foSession(s), Role: role,
				Session: foSession(s), TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			cfg := bots.Config{Token: tok, Session: foSession(s), Index: i, RunID: runID, Speak: true, API: api,
				OnPacket: h.hook(i)}
			if j == 0 {
				hostTokens[s] = tok
				ctls[s] = bots.NewController()
				cfg.OnMessage = ctls[s].OnMessage
			}
			// A session starts through "its" node, by which it is placed
			// (the least loaded node, the asked one on a tie); its other
			// bots come through the next node and follow the redirect.
			first := (s + min(j, 1)) % foNodes
			k, err := bots.Keep(ctx, cfg, bots.Rejoin{URLs: rotate(urls, first), Patience: foPatience})
			if err != nil {
				t.Fatalf("bot %d (%s of %s): %v", i, u.name, foSession(s), err)
			}
			t.Cleanup(func() { _ = k.Close() })
			keepers[i] = k
		}
		ctls[s].Attach(keepers[s*foPerSess].Bot())
	}
	for i, k := range keepers {
		if err := k.Bot().WaitConnected(ctx); err != nil {
			t.Fatalf("bot %d: %v", i, err)
		}
	}
	for s := range foSessions {
		setUpSession(t, ctx, ctls[s], keepers[s*foPerSess:(s+1)*foPerSess])
	}

	// Where each session lives: every bot of it joined on its owner.
	owner := make([]int, foSessions) // session → node index
	perNode := make([]int, foNodes)
	for s := range foSessions {
		owner[s] = -1
		for j := range foPerSess {
			n := slices.Index(urls, keepers[s*foPerSess+j].Bot().URL())
			if n < 0 || (owner[s] >= 0 && n != owner[s]) {
				t.Fatalf("session %s: bot %d joined at %s, others at node %d", foSession(s), j,
					keepers[s*foPerSess+j].Bot().URL(), owner[s])
			}
			owner[s] = n
		}
		perNode[owner[s]]++
	}
	for n, c := range perNode {
		if c == 0 {
			t.Fatalf("node %d owns no session (placement %v): the bots are not spread over all three", n, owner)
		}
	}
	victim := owner[0]
	before := make([]signaling.Snapshot, foSessions)
	for s := range foSessions {
		before[s] = nodes[owner[s]].snapshot(t, foSession(s), hostTokens[s])
		checkPlaced(t, before[s], keepers[s*foPerSess:(s+1)*foPerSess])
	}

	h.kill()
	nodes[victim].kill()
	t.Logf("killed node %d (%s), owner of sessions %v", victim, nodes[victim].addr, sessionsOf(owner, victim))

	// Every bot, moved or not, hears its room-mate again after the kill.
	waitFor(t, ctx, "every bot hears its room-mate after the kill", func() string {
		for i := range keepers {
			if h.firstAfter(i).IsZero() {
				return fmt.Sprintf("bot %d (session %s) has not heard its room-mate", i, foSession(i/foPerSess))
			}
		}
		return ""
	})
	var failover []time.Duration
	for s := range foSessions {
		ks := keepers[s*foPerSess : (s+1)*foPerSess]
		moved := owner[s] == victim
		for j, k := range ks {
			st := k.Stats()
			if err := k.Err(); err != nil {
				t.Errorf("session %s bot %d: keeper stopped: %v", foSession(s), j, err)
			}
			if !moved {
				select {
				case <-k.Bot().Done():
					t.Errorf("session %s (node %d, alive) bot %d: its socket dropped", foSession(s), owner[s], j)
				default:
				}
				if st.Redials != 0 || st.Resumes != 0 {
					t.Errorf("session %s (alive) bot %d: rejoined: %+v", foSession(s), j, st)
				}
				continue
			}
			if st.Redials != 1 || st.Resumes != 0 {
				t.Errorf("session %s (moved) bot %d: %+v, want one redial and no resume", foSession(s), j, st)
			}
			failover = append(failover, h.firstAfter(s*foPerSess+j).Sub(h.killedAt()))
		}
		now := keepers[s*foPerSess].Bot().URL()
		n := slices.Index(urls, now)
		if moved && (n < 0 || n == victim) {
			t.Fatalf("session %s: host rejoined at %s", foSession(s), now)
		}
		if !moved && n != owner[s] {
			t.Errorf("session %s moved from node %d to %s", foSession(s), owner[s], now)
		}
		after := nodes[n].snapshot(t, foSession(s), hostTokens[s])
		checkPlaced(t, after, ks)
		checkSame(t, before[s], after, moved)
		checkStored(t, ctx, r, foSession(s))
	}
	checkLeaks(t, h)
	slices.Sort(failover)
	t.Logf("failover (kill → first packet from the room-mate) of %d bots: p50 %v, p99 %v, max %v",
		len(failover), percentile(failover, 50), percentile(failover, 99), failover[len(failover)-1])
}

// foSession is the id of session s.
func foSession(s int) string { return "fo-" + strconv.Itoa(s) }

// sessionsOf lists the sessions owner places on node n.
func sessionsOf(owner []int, n int) []string {
	var out []string
	for s, o := range owner {
		if o == n {
			out = append(out, foSession(s))
		}
	}
	return out
}

// percentile is the p-th percentile of sorted ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	i := (len(ds)*p + 99) / 100
	return ds[max(i-1, 0)]
}

// waitFor polls cond (what is still missing, or "") until it holds.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() string) {
	t.Helper()
	for {
		missing := cond()
		if missing == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting until %s: %s", what, missing)
		case <-time.After(foPollEvery):
		}
	}
}

// setUpSession makes ks[1] moderator and sends ks[2] and ks[3] to a new
// breakout room, through the host's controller.
func setUpSession(t *testing.T, ctx context.Context, ctl *bots.Controller, ks []*bots.Keeper) {
	t.Helper()
	if _, err := ctl.Do(ctx, signaling.Command{Envelope: signaling.Envelope{Type: signaling.CmdSetRole},
		ParticipantID: ks[1].Bot().ParticipantID(), Role: "moderator"}); err != nil {
		t.Fatalf("role: %v", err)
	}
	a, err := ctl.Do(ctx, signaling.Command{Envelope: signaling.Envelope{Type: signaling.CmdCreateBreakouts}, Count: 1})
	if err != nil || a.Event == nil || len(a.Event.Rooms) != 1 {
		t.Fatalf("breakouts.create: %v (%+v)", err, a.Event)
	}
	assign := map[string]string{}
	for j, u := range foUsers {
		if u.breakout {
			assign[ks[j].Bot().ParticipantID()] = a.Event.Rooms[0].ID
		}
	}
	if _, err := ctl.Do(ctx, signaling.Command{Envelope: signaling.Envelope{Type: signaling.CmdAssign},
		Mode: "manual", Assignments: assign}); err != nil {
		t.Fatalf("breakouts.assign: %v", err)
	}
}

// rotate returns urls starting at index first.
func rotate(urls []string, first int) []string {
	return append(slices.Clone(urls[first:]), urls[:first]...)
}

// hearing records, per receiving bot, the packets of each source heard
// after the kill and when the first from its room-mate arrived.
type hearing struct {
	mu     sync.Mutex
	killed time.Time       // zero before the kill
	after  []map[int]int   // receiver → source → packets received after the kill
	first  []time.Time     // receiver → first packet from its room-mate after the kill
	runIDs map[uint32]bool // run ids seen
}

func newHearing(n int) *hearing {
	h := &hearing{after: make([]map[int]int, n), first: make([]time.Time, n), runIDs: map[uint32]bool{}}
	for i := range h.after {
		h.after[i] = map[int]int{}
	}
	return h
}

// hook is receiver i's Config.OnPacket.
func (h *hearing) hook(i int) func(int, *rtp.Header, bots.Signature, bool) {
	return func(_ int, _ *rtp.Header, sig bots.Signature, signed bool) {
		if !signed {
			return
		}
		now := time.Now()
		h.mu.Lock()
		defer h.mu.Unlock()
		h.runIDs[sig.RunID] = true
		if h.killed.IsZero() || now.Before(h.killed) {
			return
		}
		src := int(sig.Source)
		h.after[i][src]++
		if src == i-i%foPerSess+foMate(i%foPerSess) && h.first[i].IsZero() {
			h.first[i] = now
		}
	}
}

// kill marks the kill's instant.
func (h *hearing) kill() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.killed = time.Now()
}

// buildServer builds this package's binary (without -race) into a
// temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sanctuary")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procNode is one server process of a test.
type procNode struct {
	addr string // host:port of its HTTP listener
	ws   string // its websocket URL
	logs *syncBuffer
	cmd  *exec.Cmd
	exit chan struct{} // closed when the process ended
}

// startProcNode starts the server binary on a free loopback port with
// -redis, a short lease and loopback ICE, and waits until /readyz says
// ready. The test's cleanup kills it.
func startProcNode(t *testing.T, bin, redisURL string) *procNode {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	n := &procNode{addr: addr, ws: "ws://" + addr + "/ws", logs: &syncBuffer{}, exit: make(chan struct{})}
	n.cmd = exec.Command(bin, "-listen", addr, "-public-url", "http://"+addr, "-redis", redisURL,
		"-jwt-secret", testSecret, "-ice-loopback-only", "-udp-port", "0", "-tcp-port", "0",
		"-lease-ttl", foLeaseTTL.String(), "-log-level", "debug")
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.exit) }()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("node %s logs:\n%s", addr, n.logs.String())
		}
	})
	deadline := time.Now().Add(foPatience)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return n
			}
		}
		select {
		case <-n.exit:
			t.Fatalf("node %s exited:\n%s", addr, n.logs.String())
		case <-time.After(foPollEvery):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not ready: %v", addr, err)
		}
	}
}

// kill ends the process with SIGKILL and waits for its end.
func (n *procNode) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exit
}

// snapshot is the session's state as node serves it (REST, as its host).
func (n *procNode) snapshot(t *testing.T, session, token string) signaling.Snapshot {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.addr+"/api/v1/sessions/"+session, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var snap signaling.Snapshot
	if res.StatusCode != http.StatusOK {
		t.Fatalf("snapshot of %s on %s: %s", session, n.addr, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	return snap
}

// firstAfter is when receiver i first heard its room-mate after the
// kill; zero: not yet.
func (h *hearing) firstAfter(i int) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first[i]
}

// killedAt is the kill's instant.
func (h *hearing) killedAt() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.killed
}

// checkLeaks: after the kill, every bot heard its room-mate and nobody
// else, and no packet of another run arrived.
func checkLeaks(t *testing.T, h *hearing) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, bySource := range h.after {
		mate := i - i%foPerSess + foMate(i%foPerSess)
		for src, n := range bySource {
			if src != mate {
				t.Errorf("bot %d heard %d packets of bot %d after the kill; only its room-mate %d is in its room", i, n, src, mate)
			}
		}
	}
	if len(h.runIDs) != 1 {
		t.Errorf("packets of runs %v, want one run", h.runIDs)
	}
}

// checkPlaced: snap holds exactly the session's bots, each once, with its
// role, the participants in the one breakout room and the others in main.
func checkPlaced(t *testing.T, snap signaling.Snapshot, ks []*bots.Keeper) {
	t.Helper()
	if len(snap.Rooms) != 1 || len(snap.Participants) != foPerSess {
		t.Fatalf("session %s: %d rooms, %d participants %+v; want 1 and %d", snap.Session, len(snap.Rooms),
			len(snap.Participants), snap.Participants, foPerSess)
	}
	byID := map[string]signaling.Participant{}
	for _, p := range snap.Participants {
		if _, dup := byID[p.ID]; dup {
			t.Errorf("session %s: participant %s listed twice", snap.Session, p.ID)
		}
		byID[p.ID] = p
	}
	for j, u := range foUsers {
		id := ks[j].Bot().ParticipantID()
		p, ok := byID[id]
		room := "main"
		if u.breakout {
			room = snap.Rooms[0].ID
		}
		switch {
		case !ok:
			t.Errorf("session %s: %s (%s) has no record", snap.Session, u.name, id)
		case p.Role != u.role || p.Room != room:
			t.Errorf("session %s: %s is %s in %s, want %s in %s", snap.Session, u.name, p.Role, p.Room, u.role, room)
		}
	}
}

// checkSame: the session after the kill has the records and rooms it had
// before; one that did not move has not changed at all.
func checkSame(t *testing.T, before, after signaling.Snapshot, moved bool) {
	t.Helper()
	key := func(s signaling.Snapshot) []string {
		var out []string
		for _, p := range s.Participants {
			out = append(out, p.ID+" "+p.Role+" "+p.Room)
		}
		for _, r := range s.Rooms {
			out = append(out, "room "+r.ID)
		}
		slices.Sort(out)
		return out
	}
	if b, a := key(before), key(after); !slices.Equal(b, a) {
		t.Errorf("session %s: before the kill %v, after %v", before.Session, b, a)
	}
	if !moved && after.Version != before.Version {
		t.Errorf("session %s (not moved): version %d before the kill, %d after", before.Session, before.Version, after.Version)
	}
}

// checkStored: Redis holds one member record per user of the session,
// every one present.
func checkStored(t *testing.T, ctx context.Context, r *redistest.Server, session string) {
	t.Helper()
	_, members, ok, err := redisstore.New(r.Client(), redisstore.Options{}).Load(ctx, session)
	if err != nil || !ok {
		t.Fatalf("session %s in redis: %v, stored %v", session, err, ok)
	}
	users := map[string]int{}
	present := 0
	for _, m := range members {
		users[m.Participant.UserID]++
		if m.Present {
			present++
		}
	}
	if len(users) != foPerSess || len(members) != foPerSess || present != foPerSess {
		t.Errorf("session %s in redis: %d records of %d users, %d present; want %d of each", session,
			len(members), len(users), present, foPerSess)
	}
}
