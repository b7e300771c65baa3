package bots

import (
	"errors"
	"testing"

	"github.com/sanctuary-sfu/sanctuary/auth"
)

// keep starts a Keeper for user in the harness's session through urls,
// closed at the test's end before the harness.
func (h *harness) keep(user string, index int, urls ...string) *Keeper {
	h.t.Helper()
	c := Config{URL: urls[0], Token: h.srv.token(h.t, user, auth.RoleParticipant, h.session), Session: h.session,
		Index: index, RunID: testRunID, Speak: true, API: h.api}
	k, err := Keep(h.ctx, c, Rejoin{URLs: urls})
	if err != nil {
		h.t.Fatalf("keep %s: %v", user, err)
	}
	h.t.Cleanup(func() {
		if err := k.Close(); err != nil {
			h.t.Errorf("keeper %s close: %v", user, err)
		}
	})
	if err := k.Bot().WaitConnected(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	return k
}

// A socket cut while its node lives is resumed there: same bot, same
// PeerConnection, same record; nothing redialled.
func TestKeeperResumesOnTheSameNode(t *testing.T) {
	h := newHarness(t, 1)
	k := h.keep("kept", 0, h.srv.wsURL(), "ws://127.0.0.1:1/ws")
	b, id := k.Bot(), k.Bot().ParticipantID()
	b.Cut()
	h.waitFor("the keeper resumes", func() bool { return k.Stats().Resumes == 1 })
	if st := k.Stats(); st.Redials != 0 || st.Attempts != 0 || k.Bot() != b || b.ParticipantID() != id ||
		b.Stats().Resumes != 1 || k.Err() != nil {
		t.Fatalf("after a cut: %+v, same bot %v, participant %s (was %s), bot resumes %d, err %v", st, k.Bot() == b,
			b.ParticipantID(), id, b.Stats().Resumes, k.Err())
	}
}

// When the node it was on is gone, the Keeper drops the PeerConnection and
// joins through the next URL with a new bot; the dead one's refusal is
// counted as a failed attempt.
func TestKeeperRedialsWhenTheNodeIsGone(t *testing.T) {
	h := newHarness(t, 1)
	gone := newTestServer(t, 1)
	listener := h.dial(Config{Index: 0})
	k := h.keep("kept", 1, gone.wsURL(), h.srv.wsURL())
	old := k.Bot()
	gone.Close()
	h.waitFor("the keeper redials", func() bool { return k.Stats().Redials == 1 })
	nb := k.Bot()
	if nb == old || nb.URL() != h.srv.wsURL() || k.Err() != nil {
		t.Fatalf("new bot %v at %s, err %v; want a new one at %s", nb != old, nb.URL(), k.Err(), h.srv.wsURL())
	}
	if st := k.Stats(); st.Resumes != 0 || st.Attempts < 1 {
		t.Fatalf("stats %+v: want no resume and the dead node's refusal counted", st)
	}
	if err := nb.WaitConnected(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the listener hears the rejoined bot", func() bool { return listener.Stats().ReceivedBySource[1] > 0 })
}

// A Keeper whose record another connection took over stops: two
// connections of one user must not take the record from each other in
// turn.
func TestKeeperStopsWhenReplaced(t *testing.T) {
	h := newHarness(t, 1)
	k := h.keep("twice", 0, h.srv.wsURL())
	old := k.Bot()
	tok := h.srv.token(t, "twice", auth.RoleParticipant, h.session)
	other := h.dial(Config{Index: 1, Token: tok})
	h.waitFor("the keeper stops", func() bool { return k.Err() != nil })
	if !errors.Is(k.Err(), ErrGivenUp) || k.Bot() != old || k.Stats() != (KeeperStats{}) {
		t.Fatalf("err %v, same bot %v, stats %+v", k.Err(), k.Bot() == old, k.Stats())
	}
	select {
	case <-other.Done():
		t.Fatal("the other connection lost the record")
	default:
	}
}
