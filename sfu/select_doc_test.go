package sfu

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// protocolDoc is the page that documents speaker selection for clients.
const protocolDoc = "../signaling/PROTOCOL.md"

// TestProtocolDocumentsSelectionConstants reads the constants table of the
// "Speaker selection" section of PROTOCOL.md and compares every row with
// the code's constants, in both directions: a constant changed in the
// code, or a row changed or added in the page, fails here.
func TestProtocolDocumentsSelectionConstants(t *testing.T) {
	want := map[string]string{
		"K":        fmt.Sprint(DefaultSlots),
		"K.max":    fmt.Sprint(MaxSlots),
		"interval": fmt.Sprintf("%d ms", DefaultSelectInterval.Milliseconds()),
		"unit":     fmt.Sprintf("1/%d dB", loudnessScale),
		"attack":   fmt.Sprintf("1/%d", 1<<attackShift),
		"release":  fmt.Sprintf("1/%d", 1<<releaseShift),
		"margin":   fmt.Sprintf("%d dB", switchMargin/loudnessScale),
		"stale":    fmt.Sprintf("%d ms", staleAfter.Milliseconds()),
	}
	if switchMargin%loudnessScale != 0 {
		t.Fatalf("switchMargin %d is not a whole number of dB: the page says %q", switchMargin, want["margin"])
	}
	got := selectionTable(t)
	for name, v := range want {
		if got[name] != v {
			t.Errorf("PROTOCOL.md says %s = %q; the code has %q", name, got[name], v)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("PROTOCOL.md documents %q, which this test does not check against the code", name)
		}
	}
}

// selectionTable returns the name → value rows of the first table of the
// "## Speaker selection" section.
func selectionTable(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Speaker selection\n")
	if !ok {
		t.Fatalf("%s has no \"## Speaker selection\" section", protocolDoc)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]string{}
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 2 {
			continue
		}
		name := strings.TrimSpace(cells[0])
		if !strings.HasPrefix(name, "`") {
			continue // the header and the separator
		}
		rows[strings.Trim(name, "`")] = strings.TrimSpace(cells[1])
	}
	if len(rows) == 0 {
		t.Fatalf("no constants table in the Speaker selection section of %s", protocolDoc)
	}
	return rows
}

// TestSelectionWorkedExample replays the worked example of PROTOCOL.md's
// "Speaker selection" section through the real smoothing and selection
// code, and checks each step's loudness and slots as the page states them.
func TestSelectionWorkedExample(t *testing.T) {
	r := &Router{e: &Engine{}, k: 2, clock: clock{start: time.Now().Add(-time.Hour)}, peers: map[string]*Peer{}}
	peer := func(id string) *Peer {
		p := &Peer{id: id, r: r}
		p.src = newSource(p)
		for i := range r.k {
			p.slots = append(p.slots, newSlot(p, i))
		}
		r.peers[id] = p
		return p
	}
	P, A, B, C := peer("P"), peer("A"), peer("B"), peer("C")
	all := []*Peer{P, A, B, C}
	setRouting := func() {
		rt := Routing{Hear: map[string]string{}, Speak: map[string]string{}}
		for _, p := range all {
			if r.peers[p.id] == p {
				rt.Hear[p.id], rt.Speak[p.id] = "main", "main"
			}
		}
		r.routing = rt
	}
	setRouting()
	// send delivers one packet with an audio level from each speaker.
	send := func(levels map[*Peer]byte) {
		for p, l := range levels {
			p.src.observeLevel(l, p.src.levelTS+frameTicks) // one packet every 20 ms
			p.src.lastSeen.Store(r.clock.now())
		}
	}
	sel := func() { r.selectLocked() }
	check := func(step string, wantSlots []string, wantL map[*Peer]uint32) {
		t.Helper()
		for p, l := range wantL {
			if got := p.src.loudness.Load(); got != l {
				t.Fatalf("step %s: L(%s) = %d, PROTOCOL.md says %d", step, p.id, got, l)
			}
		}
		if got := P.Slots(); strings.Join(got, ",") != strings.Join(wantSlots, ",") {
			t.Fatalf("step %s: P's slots %v, PROTOCOL.md says %v", step, got, wantSlots)
		}
	}

	// Step 1: A, B at 40 and C at 46 for a while; A and B hold P's slots
	// (they spoke first).
	send(map[*Peer]byte{A: 40, B: 40})
	sel()
	for range 50 {
		send(map[*Peer]byte{A: 40, B: 40, C: 46})
	}
	sel()
	check("1", []string{"A", "B"}, map[*Peer]uint32{A: 22269, B: 22269, C: 20733})

	talk := func(b byte) { send(map[*Peer]byte{A: 40, B: b, C: 46}); sel() }
	talk(127)
	check("2", []string{"A", "B"}, map[*Peer]uint32{B: 20878})
	talk(127)
	check("3", []string{"A", "B"}, map[*Peer]uint32{B: 19574})
	talk(127)
	check("4", []string{"A", "C"}, map[*Peer]uint32{B: 18351})
	for range 47 {
		talk(127)
	}
	check("5 (1 s silent)", []string{"A", "C"}, map[*Peer]uint32{B: 892})
	for _, l := range []uint32{6877, 11365} {
		talk(30)
		check("5", []string{"A", "C"}, map[*Peer]uint32{B: l})
	}
	for range 5 {
		talk(30)
	}
	check("6", []string{"A", "C"}, map[*Peer]uint32{B: 21635})
	talk(30)
	check("7", []string{"A", "B"}, map[*Peer]uint32{B: 22434, A: 22269, C: 20733})

	// Step 8: A leaves: removed from the router, then from the routing.
	r.removePeer(A)
	setRouting()
	sel()
	check("8", []string{"C", "B"}, nil)
}
