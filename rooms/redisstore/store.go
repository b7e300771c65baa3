// Package redisstore is a rooms.Store in Redis (go-redis/v9): the session
// state of several server nodes, and of one node across restarts.
//
// Each session has three keys, with the session id as their hash tag so
// that a Redis Cluster keeps them in one slot:
//
//	<prefix>s:{<id>}  hash: v (version), c (incarnation: creation time in ns), r (rooms.SessionRecord, JSON)
//	<prefix>m:{<id>}  hash: user id → rooms.MemberRecord (JSON)
//	<prefix>e:{<id>}  stream: one entry per event, ID "<version>-1", field e (rooms.Event, JSON),
//	                  trimmed to about Options.MaxEvents entries
//	<prefix>l:{<id>}  string "<node> <token>": the lease of the node that owns the session (lease.go)
//	<prefix>f:{<id>}  counter: the last fencing token issued for the session
//
// A commit is one Lua script: it checks the stored version and incarnation
// against the writer's and writes the record, the changed members and the
// events, or writes nothing and answers CONFLICT. Every key expires
// Options.TTL after the session's last write. Redis holds no token; user
// ids only as the keys of member records (one record per user).
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sanctuary-sfu/sanctuary/rooms"
)

// Defaults of Options.
const (
	DefaultPrefix    = "sanctuary:"
	DefaultTTL       = 25 * time.Hour // longer than rooms.DefaultEndedTTL: a session outlives its statistics' retention
	DefaultMaxEvents = 1024           // events kept per session for resuming clients
)

// membersPerCall bounds the member records one HSET of the commit script
// writes: Lua's unpack limit is a few thousand values.
const membersPerCall = 500

// Options configures a Store. The zero value is usable.
type Options struct {
	Prefix    string        // of every key; "" means DefaultPrefix
	TTL       time.Duration // keys expire this long after the session's last write; 0 or less: DefaultTTL
	MaxEvents int64         // events kept per session (approximately: trimming is lazy); 0 or less: DefaultMaxEvents
	// Node, when non-empty, names this node among several on one Redis
	// and turns ownership on: a session is written only by the node that
	// holds its lease (lease.go), and every write is fenced by the
	// lease's token. "" (one node): no leases.
	Node string
	// LeaseTTL is how long a lease outlives its holder's last renewal: a
	// dead node's sessions are taken over after it. 0 or less: DefaultLeaseTTL.
	LeaseTTL time.Duration
}

// Store is a rooms.Store on a Redis client (a single node, Sentinel or
// Cluster). It is safe for concurrent use.
type Store struct {
	rdb       redis.UniversalClient // immutable; never nil
	prefix    string                // immutable
	ttl       time.Duration         // immutable; > 0
	maxEvents int64                 // immutable; > 0
	node      string                // immutable; "": no leases
	leaseTTL  time.Duration         // immutable; > 0

	mu     sync.Mutex
	leases map[string]lease // guarded by mu: the leases this node holds, by session
}

var _ rooms.Store = (*Store)(nil)

// New returns a Store on rdb, which the caller closes after the Store's
// last use.
func New(rdb redis.UniversalClient, o Options) *Store {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	return &Store{rdb: rdb, prefix: o.Prefix, ttl: o.TTL, maxEvents: o.MaxEvents,
		node: o.Node, leaseTTL: o.LeaseTTL, leases: make(map[string]lease)}
}

// keys returns the session's record, members, events, lease and fence
// keys.
func (s *Store) keys(session string) []string {
	tag := "{" + session + "}"
	return []string{s.prefix + "s:" + tag, s.prefix + "m:" + tag, s.prefix + "e:" + tag,
		s.prefix + "l:" + tag, s.prefix + "f:" + tag}
}

// conflictPrefix starts the error the scripts answer on a version conflict.
const conflictPrefix = "CONFLICT"

// commitScript: KEYS record, members, events, lease, fence. ARGV prev,
// version, created, record JSON, ttl ms, max events, lease value ("": no
// fencing), token, lease ttl ms, member count n, then n pairs (user id,
// JSON), then pairs (event version, JSON).
var commitScript = redis.NewScript(fenceLua + `
if ARGV[7] ~= '' and not holds(KEYS[4], KEYS[5], ARGV[7], ARGV[8], ARGV[9], ARGV[5]) then
  return redis.error_reply('NOTOWNER ' .. (redis.call('GET', KEYS[4]) or 'none'))
end
local cur = redis.call('HMGET', KEYS[1], 'v', 'c')
if cur[1] then
  if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[3] then
    return redis.error_reply('CONFLICT stored ' .. cur[1] .. ' ' .. cur[2])
  end
else
  if ARGV[1] ~= '0' then
    return redis.error_reply('CONFLICT none stored')
  end
  redis.call('DEL', KEYS[2], KEYS[3])
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'c', ARGV[3], 'r', ARGV[4])
local n = tonumber(ARGV[10])
local i = 11
local last = i + 2 * n - 1
while i <= last do
  local j = math.min(i + 2 * ` + strconv.Itoa(membersPerCall) + ` - 1, last)
  redis.call('HSET', KEYS[2], unpack(ARGV, i, j))
  i = j + 1
end
while i <= #ARGV do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], ARGV[i] .. '-1', 'e', ARGV[i + 1])
  i = i + 2
end
for i = 1, 3 do
  redis.call('PEXPIRE', KEYS[i], ARGV[5])
end
if ARGV[7] ~= '' then
  redis.call('PEXPIRE', KEYS[5], ARGV[5])
end
return 1
`)

// deleteScript: KEYS as commitScript. ARGV version, lease value ("": no
// fencing), token, lease ttl ms, ttl ms. The lease goes with the session.
var deleteScript = redis.NewScript(fenceLua + `
if ARGV[2] ~= '' and not holds(KEYS[4], KEYS[5], ARGV[2], ARGV[3], ARGV[4], ARGV[5]) then
  return redis.error_reply('NOTOWNER ' .. (redis.call('GET', KEYS[4]) or 'none'))
end
local v = redis.call('HGET', KEYS[1], 'v')
if v and v ~= ARGV[1] then
  return redis.error_reply('CONFLICT stored ' .. v)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
if ARGV[2] ~= '' then
  redis.call('DEL', KEYS[4])
end
return 1
`)

// Commit implements rooms.Store.
func (s *Store) Commit(ctx context.Context, c rooms.Commit) error {
	rec, err := json.Marshal(c.Record)
	if err != nil {
		return fmt.Errorf("redisstore: commit: %w", err)
	}
	l, err := s.lease(ctx, c.Record.Session)
	if err != nil {
		return err
	}
	args := make([]any, 0, 10+2*len(c.Members)+2*len(c.Events))
	args = append(args, c.Prev, c.Record.Version, created(c.Record.Created), rec, s.ttl.Milliseconds(),
		s.maxEvents, l.val, l.token, s.leaseTTL.Milliseconds(), len(c.Members))
	for _, m := range c.Members {
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("redisstore: commit: %w", err)
		}
		args = append(args, m.Participant.UserID, b)
	}
	for _, e := range c.Events {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("redisstore: commit: %w", err)
		}
		args = append(args, e.Version, b)
	}
	err = commitScript.Run(ctx, s.rdb, s.keys(c.Record.Session), args...).Err()
	return s.scriptErr("commit", c.Record.Session, err)
}

// scriptErr wraps a script's CONFLICT answer in rooms.ErrConflict, and
// its NOTOWNER answer in rooms.ErrNotOwner (the lease is forgotten).
func (s *Store) scriptErr(op, session string, err error) error {
	var rerr redis.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), conflictPrefix):
		return fmt.Errorf("redisstore: %s session %q: %s: %w", op, session, rerr.Error(), rooms.ErrConflict)
	case errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), notOwnerPrefix):
		s.forget(session)
		return fmt.Errorf("redisstore: %s session %q: %s: %w", op, session, rerr.Error(), rooms.ErrNotOwner)
	}
	return fmt.Errorf("redisstore: %s session %q: %w", op, session, err)
}

// created encodes an incarnation: its creation time in ns.
func created(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// Load implements rooms.Store: the record and the members are read in one
// transaction, so they are of one version.
func (s *Store) Load(ctx context.Context, session string) (rooms.SessionRecord, []rooms.MemberRecord, bool, error) {
	k := s.keys(session)
	var recCmd *redis.StringCmd
	var memCmd *redis.MapStringStringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		recCmd = p.HGet(ctx, k[0], "r")
		memCmd = p.HGetAll(ctx, k[1])
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return rooms.SessionRecord{}, nil, false, nil
	}
	if err != nil {
		return rooms.SessionRecord{}, nil, false, fmt.Errorf("redisstore: load session %q: %w", session, err)
	}
	var rec rooms.SessionRecord
	if err := json.Unmarshal([]byte(recCmd.Val()), &rec); err != nil {
		return rooms.SessionRecord{}, nil, false, fmt.Errorf("redisstore: load session %q: record: %w", session, err)
	}
	members := make([]rooms.MemberRecord, 0, len(memCmd.Val()))
	for uid, v := range memCmd.Val() {
		var m rooms.MemberRecord
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return rooms.SessionRecord{}, nil, false, fmt.Errorf("redisstore: load session %q: member %q: %w", session, uid, err)
		}
		members = append(members, m)
	}
	return rec, members, true, nil
}

// Delete implements rooms.Store.
func (s *Store) Delete(ctx context.Context, session string, version uint64) error {
	l, err := s.lease(ctx, session)
	if err != nil {
		return err
	}
	err = deleteScript.Run(ctx, s.rdb, s.keys(session), version, l.val, l.token,
		s.leaseTTL.Milliseconds(), s.ttl.Milliseconds()).Err()
	if err == nil {
		s.forget(session)
	}
	return s.scriptErr("delete", session, err)
}

// Sessions implements rooms.Store by scanning for record keys (on every
// master of a Cluster).
func (s *Store) Sessions(ctx context.Context) ([]string, error) {
	var ids []string
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, s.prefix+"s:{*", 1000).Iterator()
		for it.Next(ctx) {
			key := strings.TrimPrefix(it.Val(), s.prefix+"s:")
			if id, ok := strings.CutPrefix(key, "{"); ok && strings.HasSuffix(id, "}") {
				ids = append(ids, strings.TrimSuffix(id, "}"))
			}
		}
		return it.Err()
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex // ForEachMaster runs the masters concurrently
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, c)
		})
	} else {
		err = scan(ctx, s.rdb)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: sessions: %w", err)
	}
	return ids, nil
}

// Events implements rooms.Store.
func (s *Store) Events(ctx context.Context, session string, after uint64) ([]rooms.Event, error) {
	msgs, err := s.rdb.XRange(ctx, s.keys(session)[2], strconv.FormatUint(after+1, 10)+"-0", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: events of %q: %w", session, err)
	}
	out := make([]rooms.Event, 0, len(msgs))
	for _, m := range msgs {
		v, _ := m.Values["e"].(string)
		var e rooms.Event
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			return nil, fmt.Errorf("redisstore: events of %q: entry %s: %w", session, m.ID, err)
		}
		out = append(out, e)
	}
	return out, nil
}
