package sfu

import (
	"strings"
	"testing"
	"time"
)

// TestPeersShareTheCertificate: every peer of an engine offers the same
// DTLS fingerprint; the certificate is replaced once it would expire
// within certRenewBefore, and the new one is offered from then on.
func TestPeersShareTheCertificate(t *testing.T) {
	e, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true}, 1)
	defer closeRouter()

	fingerprint := func(id string) string {
		t.Helper()
		p, err := r.AddPeer(id, PeerHandlers{})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		o, err := p.Offer()
		if err != nil {
			t.Fatal(err)
		}
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
