package redisstore

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore/redistest"
)

// patience bounds the waits for a lease to expire; only a failure
// reaches it.
const patience = 20 * time.Second

// waitFor polls cond until it holds or patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFencing: node A owns session s by its first write. B may not write
// while A's lease lives. A pauses (stops renewing); once its lease
// expired B takes it, with a greater token; A, still believing it holds
// the lease, writes the very version the store expects next, and is
// refused with ErrNotOwner: the version check alone would have let it
// through. B's write goes through. A's renewal reports a lost lease.
func TestFencing(t *testing.T) {
	r := redistest.Start(t)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	a := New(r.Client(), Options{Node: "A", LeaseTTL: ttl})
	b := New(r.Client(), Options{Node: "B", LeaseTTL: ttl})
	rec := func(v uint64) rooms.SessionRecord { return rooms.SessionRecord{Session: "s", Created: t0, Version: v} }

	if err := a.Commit(ctx, rooms.Commit{Prev: 0, Record: rec(1)}); err != nil {
		t.Fatal(err)
	}
	if owner := must[string](t)(a.Owner(ctx, "s")); owner != "A" || !a.Holds("s") || b.Holds("s") {
		t.Fatalf("owner %q, A holds %v, B holds %v; want A only", owner, a.Holds("s"), b.Holds("s"))
	}
	if err := b.Commit(ctx, rooms.Commit{Prev: 1, Record: rec(2)}); !errors.Is(err, rooms.ErrNotOwner) {
		t.Fatalf("B writing A's session: %v, want ErrNotOwner", err)
	}
	// Another session of A, to see Renew report its loss.
	if err := a.Commit(ctx, rooms.Commit{Prev: 0, Record: rooms.SessionRecord{Session: "r", Created: t0, Version: 1}}); err != nil {
		t.Fatal(err)
	}

	// A pauses: no renewal. B takes both leases once they expired.
	waitFor(t, "B takes the lease of s", func() bool { _, err := b.lease(ctx, "s"); return err == nil })
	waitFor(t, "B takes the lease of r", func() bool { _, err := b.lease(ctx, "r"); return err == nil })
	if a.leases["s"].token >= b.leases["s"].token {
		t.Fatalf("tokens: A %d, B %d; want B's greater", a.leases["s"].token, b.leases["s"].token)
	}
	if !a.Holds("s") {
		t.Fatal("A forgot its lease without being told")
	}
	if err := a.Commit(ctx, rooms.Commit{Prev: 1, Record: rec(2)}); !errors.Is(err, rooms.ErrNotOwner) {
		t.Fatalf("the paused old owner wrote after losing its lease: %v", err)
	}
	if err := a.Delete(ctx, "s", 1); !errors.Is(err, rooms.ErrNotOwner) {
		t.Fatalf("the paused old owner deleted: %v", err)
	}
	if got, _, _, err := a.Load(ctx, "s"); err != nil || got.Version != 1 {
		t.Fatalf("stored version %d (%v), want 1", got.Version, err)
	}
	if a.Holds("s") {
		t.Fatal("A still believes it holds s after the refusal")
	}
	if err := b.Commit(ctx, rooms.Commit{Prev: 1, Record: rec(2)}); err != nil {
		t.Fatalf("the new owner's write: %v", err)
	}
	if lost := must[[]string](t)(a.Renew(ctx)); !reflect.DeepEqual(lost, []string{"r"}) {
		t.Fatalf("A's renewal lost %v, want [r]", lost)
	}
	if lost := must[[]string](t)(b.Renew(ctx)); len(lost) != 0 {
		t.Fatalf("B's renewal lost %v", lost)
	}
}

// TestPlacement: three nodes registered with their loads. A session
// nobody owns, claimed through A, goes to the least loaded node C, whose
// Claim then adopts it; A and B are told C's URL. When C dies (no
// heartbeat, no renewal), the session is placed again among the live
// nodes once its lease expired: on B, less loaded than A.
func TestPlacement(t *testing.T) {
	r := redistest.Start(t)
	ctx := context.Background()
	const ttl = 500 * time.Millisecond
	cl := map[string]*Cluster{}
	for _, id := range []string{"A", "B", "C"} {
		c, err := NewCluster(New(r.Client(), Options{Node: id, LeaseTTL: ttl}), "ws://"+id+"/ws")
		if err != nil {
			t.Fatal(err)
		}
		cl[id] = c
	}
	loads := map[string]Load{"A": {Participants: 5}, "B": {Participants: 3, Sessions: 1}, "C": {Participants: 3}}
	for id, l := range loads {
		if err := cl[id].Heartbeat(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if url := must[string](t)(cl["A"].Claim(ctx, "s")); url != "ws://C/ws" {
		t.Fatalf("claim through A: %q, want C's URL", url)
	}
	if url := must[string](t)(cl["B"].Claim(ctx, "s")); url != "ws://C/ws" {
		t.Fatalf("claim through B: %q, want C's URL", url)
	}
	if url := must[string](t)(cl["C"].Claim(ctx, "s")); url != "" || !cl["C"].Owns("s") || cl["A"].Owns("s") {
		t.Fatalf("claim through C: %q, C owns %v; want C the owner", url, cl["C"].Owns("s"))
	}
	nodes := must[[]Node](t)(cl["A"].Nodes(ctx))
	for _, n := range nodes {
		if n.ID == "C" && n.Load.Sessions != 1 {
			t.Fatalf("C counts %d sessions after the placement, want 1", n.Load.Sessions)
		}
	}

	// C dies: no heartbeat, no renewal. A and B keep theirs.
	waitFor(t, "s placed again", func() bool {
		for id := range map[string]bool{"A": true, "B": true} {
			_ = cl[id].Heartbeat(ctx, loads[id])
		}
		url, err := cl["A"].Claim(ctx, "s")
		return err == nil && (url == "ws://B/ws" || url == "")
	})
	if owner := must[string](t)(cl["A"].store.Owner(ctx, "s")); owner != "B" {
		t.Fatalf("after C died, s went to %q, want B (less loaded than A)", owner)
	}
}
