package sfu

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// TestICERestartKeepsMedia restarts ICE on a connected peer: the restart
// offer carries new ICE credentials and the same m-lines, the client's
// answer is taken, and audio keeps flowing both ways on the same
// PeerConnection and the same slot streams.
func TestICERestartKeepsMedia(t *testing.T) {
	lim := test.TimeOut(40 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	e, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true}, 1)
	defer closeRouter()
	api := newTestAPI(t)

	// Before any answer there is nothing to restart.
	early, err := r.AddPeer("early", PeerHandlers{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := early.RestartICE(); !errors.Is(err, ErrNoOffer) {
		t.Errorf("RestartICE before the offer: %v, want ErrNoOffer", err)
	}
	_ = early.Close()

	a, pa := connect(t, api, r, "a", 'a')
	b, _ := connect(t, api, r, "b", 'b')
	defer a.close()
	defer b.close()
	all := map[string]string{"a": "g", "b": "g"}
	r.SetRouting(1, Routing{Hear: all, Speak: all})
	a.speak(30)
	b.speak(30)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitFor(ctx, t, "a and b hear each other", func() bool { return a.count('b') > 10 && b.count('a') > 10 })

	// a's slot takes the direct path (direct.go), on a socket of a's own
	// (no mux here), which the restart replaces.
	d := pa.direct.Load()
	if d == nil || !pa.slots[0].isDirect() {
		t.Fatal("a's slot is not on the direct write path")
	}
	to := d.to.Load()
	if to == nil {
		t.Fatal("a's direct path has no route")
	}
	sockBefore := to.sock

	before := pa.pc.LocalDescription().SDP
	offer, err := pa.RestartICE()
	if err != nil {
		t.Fatal(err)
	}
	again, err := pa.RestartICE()
	if err != nil || again.SDP != offer.SDP {
		t.Errorf("a second RestartICE before the answer: %v, same offer %v; want the pending offer", err, again.SDP == offer.SDP)
	}
	if pending, ok := pa.PendingRestart(); !ok || pending.SDP != offer.SDP {
		t.Errorf("PendingRestart = %v, %v; want the restart offer", ok, pending.SDP == offer.SDP)
	}
	if ufrag(t, offer.SDP) == ufrag(t, before) {
		t.Errorf("the restart offer kept the ICE ufrag %q", ufrag(t, before))
	}
	if len(offer.SlotMids) != 1 || offer.UpstreamMid == "" {
		t.Errorf("restart offer m-lines: upstream %q, slots %v", offer.UpstreamMid, offer.SlotMids)
	}
	<-webrtc.GatheringCompletePromise(pa.pc)

	// The client applies the restart offer on its one PeerConnection.
	if err := a.pc.SetRemoteDescription(*pa.pc.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := a.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(a.pc)
	if err := pa.SetAnswer(a.pc.LocalDescription().SDP); err != nil {
		t.Fatalf("answer to the restart offer: %v", err)
	}
	if _, ok := pa.PendingRestart(); ok {
		t.Error("a restart offer is still pending after its answer")
	}
	if err := pa.SetAnswer(a.pc.LocalDescription().SDP); !errors.Is(err, ErrRenegotiation) {
		t.Errorf("a second answer: %v, want ErrRenegotiation", err)
	}

	aSent, bSent := uint16(a.sending.Load()), uint16(b.sending.Load())
	waitFor(ctx, t, "audio flows both ways after the restart", func() bool {
		return a.heardAfter('b', bSent) && b.heardAfter('a', aSent)
	})
	// The direct path followed the new pair: its socket is the new one.
	pair, err := pa.ice.GetSelectedCandidatePair()
	if err != nil {
		t.Fatal(err)
	}
	want := e.routeOf(pair)
	var sockAfter *echoConn
	var udpAfter netip.AddrPort
	if to := d.to.Load(); to != nil {
		sockAfter, udpAfter = to.sock, to.udp
	}
	if !want.ok() || sockAfter != want.sock || udpAfter != want.udp || sockAfter == sockBefore {
		t.Errorf("after the restart the direct path sends on %p to %v, the pair is on %p to %v (before: %p)",
			sockAfter, udpAfter, want.sock, want.udp, sockBefore)
	}
	if got := e.Stats().ICERestarts; got != 1 {
		t.Errorf("ICERestarts = %d, want 1", got)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ssrcChg != 0 {
		t.Errorf("a saw %d SSRC changes on its slot across the restart", a.ssrcChg)
	}
}

func ufrag(t *testing.T, sdpText string) string {
	t.Helper()
	for _, line := range strings.Split(sdpText, "\r\n") {
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			return v
		}
	}
	t.Fatalf("no ice-ufrag in %q", sdpText)
	return ""
}
