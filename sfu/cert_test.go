package sfu

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// TestPeersShareTheCertificate: every peer of an engine offers the same
// DTLS fingerprint; the certificate is replaced once it would expire
// within certRenewBefore, and the new one is offered from then on.
func TestPeersShareTheCertificate(t *testing.T) {
	e, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true}, 1)
	defer closeRouter()

	fingerprint := func(id string) string {
		t.Helper()
		o := offerOf(t, r, id)
		_, rest, ok := strings.Cut(o.SDP, "a=fingerprint:")
		if !ok {
			t.Fatalf("offer without a fingerprint:\n%s", o.SDP)
		}
		fp, _, _ := strings.Cut(rest, "\r\n")
		return fp
	}
	a, b := fingerprint("a"), fingerprint("b")
	if a != b {
		t.Errorf("two peers offer fingerprints %q and %q, want one", a, b)
	}

	first := e.cert
	if _, err := e.certificate(first.Expires().Add(-certRenewBefore - time.Hour)); err != nil {
		t.Fatal(err)
	}
	if e.cert != first {
		t.Error("the certificate was replaced with more than certRenewBefore left")
	}
	if _, err := e.certificate(first.Expires().Add(-certRenewBefore + time.Hour)); err != nil {
		t.Fatal(err)
	}
	if e.cert == first {
		t.Error("the certificate was kept with less than certRenewBefore left")
	}
	if c := fingerprint("c"); c == a {
		t.Error("a peer made after the renewal offers the old fingerprint")
	}
}

// TestDTLSWithoutCookie: the server answers a client's first ClientHello
// with its ServerHello (answerClientHelloAtOnce). A client that is sent a
// HelloVerifyRequest builds a second ClientHello carrying the cookie, so
// the client's hook sees one ClientHello here, without a cookie, and two
// with pion's default.
func TestDTLSWithoutCookie(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	_, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true}, 1)
	defer closeRouter()

	var (
		mu      sync.Mutex
		hellos  int
		cookies int
	)
	api := newTestAPIWith(t, func(se *webrtc.SettingEngine) {
		se.SetDTLSClientHelloMessageHook(func(m handshake.MessageClientHello) handshake.Message {
			mu.Lock()
			hellos++
			if len(m.Cookie) > 0 {
				cookies++
			}
			mu.Unlock()
			return &m
		})
	})
	c, p := connect(t, api, r, "a", 0)
	defer c.close()
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitFor(ctx, t, "both ends connected", func() bool {
		return p.pc.ConnectionState() == webrtc.PeerConnectionStateConnected &&
			c.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
	mu.Lock()
	defer mu.Unlock()
	if hellos != 1 || cookies != 0 {
		t.Errorf("the client built %d ClientHellos, %d with a cookie; want 1 without", hellos, cookies)
	}
}
