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
}

// Store is a rooms.Store on a Redis client (a single node, Sentinel or
// Cluster). It is safe for concurrent use.
type Store struct {
	rdb       redis.UniversalClient // immutable; never nil
	prefix    string                // immutable
	ttl       time.Duration         // immutable; > 0
	maxEvents int64                 // immutable; > 0
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
	return &Store{rdb: rdb, prefix: o.Prefix, ttl: o.TTL, maxEvents: o.MaxEvents}
}

// keys returns the session's record, members and events keys.
func (s *Store) keys(session string) []string {
	tag := "{" + session + "}"
	return []string{s.prefix + "s:" + tag, s.prefix + "m:" + tag, s.prefix + "e:" + tag}
}

// conflictPrefix starts the error the scripts answer on a version conflict.
const conflictPrefix = "CONFLICT"

// commitScript: KEYS record, members, events. ARGV prev, version, created,
// record JSON, ttl ms, max events, member count n, then n pairs (user id,
// JSON), then pairs (event version, JSON).
var commitScript = redis.NewScript(`
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
local n = tonumber(ARGV[7])
local i = 8
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
for _, k in ipairs(KEYS) do
  redis.call('PEXPIRE', k, ARGV[5])
end
return 1
`)

// deleteScript: KEYS as commitScript. ARGV version.
var deleteScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'v')
if v and v ~= ARGV[1] then
  return redis.error_reply('CONFLICT stored ' .. v)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`)

// Commit implements rooms.Store.
func (s *Store) Commit(ctx context.Context, c rooms.Commit) error {
	rec, err := json.Marshal(c.Record)
	if err != nil {
		return fmt.Errorf("redisstore: commit: %w", err)
	}
	args := make([]any, 0, 7+2*len(c.Members)+2*len(c.Events))
	args = append(args, c.Prev, c.Record.Version, created(c.Record.Created), rec, s.ttl.Milliseconds(),
		s.maxEvents, len(c.Members))
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

// scriptErr wraps a script's CONFLICT answer in rooms.ErrConflict.
func (s *Store) scriptErr(op, session string, err error) error {
	var rerr redis.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), conflictPrefix):
		return fmt.Errorf("redisstore: %s session %q: %s: %w", op, session, rerr.Error(), rooms.ErrConflict)
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
	err := deleteScript.Run(ctx, s.rdb, s.keys(session), version).Err()
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
