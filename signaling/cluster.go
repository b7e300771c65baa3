package signaling

import (
	"context"
	"errors"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
)

// claim asks the Cluster where the session of a join is served, and
// answers the join itself when it is not here: redirect to the owner, or
// session_moving while the owner is dead but still holds the session. It
// reports whether the join goes on here.
func (c *conn) claim(joinID, session string) bool {
	cl := c.s.cfg.Cluster
	if cl == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	url, err := cl.Claim(ctx, session)
	cancel()
	switch {
	case err != nil:
		c.s.log.Warn("join: owner of the session unknown", "session", session, "err", err)
		c.fail(joinID, CodeSessionMoving, "the session is moving to another server: reconnect in a moment")
		return false
	case url != "":
		c.s.log.Info("join redirected", "session", session, "url", url)
		c.closeWith("redirect", encode(Redirect{Envelope: Envelope{Type: TypeRedirect, ID: joinID}, URL: url}))
		return false
	}
	return true
}

// SessionMoved tells the sockets of session on this node that another
// node owns it now (its lease was lost: this node was cut off from Redis
// for longer than the lease): each is redirected there and closed.
func (s *Server) SessionMoved(id string) {
	sess := s.lookup(id)
	if sess == nil || s.cfg.Cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	url, err := s.cfg.Cluster.Claim(ctx, id)
	cancel()
	if err == nil && url == "" {
		return // it came back here
	}
	for _, c := range sess.conns() {
		if err != nil {
			c.fail("", CodeSessionMoving, "the session is moving to another server: reconnect in a moment")
			continue
		}
		c.closeWith("redirect", encode(Redirect{Envelope: Envelope{Type: TypeRedirect}, URL: url}))
	}
}

// sweepOrphans ends, after the reconnect grace period, the records of
// session that this node found present when it began serving it and
// whose clients did not come back: those of a dead node that owned it
// before. A record whose client came back has a new epoch and stays.
func (s *Server) sweepOrphans(sess *session) {
	defer s.wg.Done()
	snap, err := s.hub.Snapshot(sess.id)
	if err != nil {
		return // a new session: nobody to sweep
	}
	t := time.NewTimer(s.cfg.ReconnectGrace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.stopping:
		return
	}
	swept := 0
	for _, p := range snap.Participants {
		sess.mu.Lock()
		_, here := sess.members[p.ID]
		sess.mu.Unlock()
		if here {
			continue // a socket of this node held it: its own grace applies
		}
		err := s.hub.Leave(sess.id, p.ID, p.Epoch)
		if err == nil {
			swept++
		} else if !errors.Is(err, rooms.ErrStale) && !errors.Is(err, rooms.ErrNotFound) {
			s.log.Warn("sweep of a record left by another node failed", "session", sess.id, "participant", p.ID, "err", err)
		}
	}
	if swept > 0 {
		s.log.Info("records of clients that did not come back ended", "session", sess.id, "records", swept)
		s.syncAudiences(sess)
	}
}
