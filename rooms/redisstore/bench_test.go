package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore/redistest"
)

// roundTrips is a go-redis hook that counts round trips: one per command
// sent alone, one per pipeline or transaction.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// benchHub is a Hub on a memory store (r nil) or on a fenced Redis store
// (as every node of a cluster writes), with the Redis client's round
// trips counted.
func benchHub(b *testing.B, r *redistest.Server) (*rooms.Hub, *roundTrips) {
	b.Helper()
	rt := &roundTrips{}
	o := rooms.Options{MaxSessionParticipants: -1, MaxParticipants: -1, MaxSessions: -1}
	if r != nil {
		c := r.Client()
		c.AddHook(rt)
		o.Store = New(c, Options{Node: "bench"})
	}
	return rooms.NewHub(o), rt
}

// benchSession30 fills session with a host and 29 participants, opens
// three breakout rooms and assigns everyone but the host, balanced. It
// returns the host and the participants' ids, and the rooms.
func benchSession30(b *testing.B, h *rooms.Hub, session string) (rooms.Actor, []string, []rooms.Room) {
	b.Helper()
	var ids []string
	for i := range 30 {
		role := rooms.RoleParticipant
		if i == 0 {
			role = rooms.RoleHost
		}
		res, err := h.Join(session, rooms.Identity{UserID: "user-" + strconv.Itoa(i), Alias: "Person " + strconv.Itoa(i), Role: role})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, res.Participant.ID)
	}
	host := rooms.Actor{ParticipantID: ids[0]}
	rs, _, err := h.CreateBreakouts(session, host, make([]rooms.RoomSpec, 3))
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := h.Assign(session, host, rooms.Assignment{Mode: rooms.AssignBalanced}); err != nil {
		b.Fatal(err)
	}
	return host, ids, rs
}

// BenchmarkCommands measures session changes on the memory store and on
// Redis (a real redis-server on loopback): the time of each, and on Redis
// its round trips ("roundtrips/op", counted by a go-redis hook). join: a
// new participant joins (a new session of 30 every 30 joins, whose first
// join takes the lease); rejoin: a participant joins again (a takeover);
// move: the host moves a participant to the other of two rooms (every
// iteration a change); hand: a
// participant raises or lowers its hand; in a session of 30 laid out as
// benchSession30.
func BenchmarkCommands(b *testing.B) {
	r := redistest.Start(b)
	for _, store := range []string{"memory", "redis"} {
		var srv *redistest.Server
		if store == "redis" {
			srv = r
		}
		b.Run(store+"/join", func(b *testing.B) {
			h, rt := benchHub(b, srv)
			prefix := fmt.Sprintf("join-%d-", b.N)
			rt.n.Store(0)
			b.ResetTimer()
			for i := range b.N {
				session := prefix + strconv.Itoa(i/30)
				if _, err := h.Join(session, rooms.Identity{UserID: "user-" + strconv.Itoa(i%30)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
		})
		b.Run(store+"/rejoin", func(b *testing.B) {
			h, rt := benchHub(b, srv)
			session := fmt.Sprintf("rejoin-%d", b.N)
			benchSession30(b, h, session)
			rt.n.Store(0)
			b.ResetTimer()
			for i := range b.N {
				if _, err := h.Join(session, rooms.Identity{UserID: "user-" + strconv.Itoa(1+i%29)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
		})
		b.Run(store+"/move", func(b *testing.B) {
			h, rt := benchHub(b, srv)
			session := fmt.Sprintf("move-%d", b.N)
			host, ids, rs := benchSession30(b, h, session)
			p, err := h.Participant(session, ids[1])
			if err != nil {
				b.Fatal(err)
			}
			first := 0
			if p.Room == rs[0].ID {
				first = 1 // every iteration moves it
			}
			rt.n.Store(0)
			b.ResetTimer()
			for i := range b.N {
				if _, err := h.Move(session, host, ids[1], rs[(first+i)%2].ID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
		})
		b.Run(store+"/hand", func(b *testing.B) {
			h, rt := benchHub(b, srv)
			session := fmt.Sprintf("hand-%d", b.N)
			_, ids, _ := benchSession30(b, h, session)
			self := rooms.Actor{ParticipantID: ids[2]}
			rt.n.Store(0)
			b.ResetTimer()
			for i := range b.N {
				if _, err := h.SetHand(session, self, ids[2], i%2 == 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
		})
	}
}

// BenchmarkStoredSession30 measures what a session of 30 participants
// (benchSession30: 30 joins, three breakout rooms, everyone assigned)
// holds in Redis: the MEMORY USAGE (exact, SAMPLES 0) of its keys, record,
// members, events, lease and fence, in "bytes/session", and the keys one
// by one in the log.
func BenchmarkStoredSession30(b *testing.B) {
	r := redistest.Start(b)
	c := r.Client()
	h, _ := benchHub(b, r)
	s := New(c, Options{Node: "bench"})
	ctx := context.Background()
	var total int64
	for i := range b.N {
		session := fmt.Sprintf("mem-%d-%d", b.N, i)
		benchSession30(b, h, session)
		var sizes []string
		for _, k := range s.keys(session) {
			n, err := c.MemoryUsage(ctx, k, 0).Result()
			if err != nil && err != redis.Nil {
				b.Fatal(err)
			}
			total += n
			sizes = append(sizes, fmt.Sprintf("%s=%d", k, n))
		}
		if i == 0 {
			b.Logf("one session of 30: %v", sizes)
		}
	}
	b.ReportMetric(float64(total)/float64(b.N), "bytes/session")
}
