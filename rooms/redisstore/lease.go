package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sanctuary-sfu/sanctuary/rooms"
)

// DefaultLeaseTTL is how long a session's lease outlives the last renewal
// of its owner: a dead node's sessions move after about this long.
const DefaultLeaseTTL = 5 * time.Second

// notOwnerPrefix starts the error the scripts answer when another node
// holds the session's lease.
const notOwnerPrefix = "NOTOWNER"

// lease is a session's lease as this node holds it: val is what the lease
// key holds ("<node> <token>"); token is the fencing token, which grows
// with every new holder of the session. The zero lease (val "") is no
// fencing: a Store without Options.Node.
type lease struct {
	val   string
	token int64
}

// fenceLua defines holds(lease key, fence key, value, token, lease ttl ms,
// ttl ms): whether the writer with lease value and token may write. It may
// when the lease key holds its value, or when the lease expired unclaimed
// and no later token was issued (its holder was cut off from Redis for a
// while, or Redis restarted empty): the lease is then taken again.
const fenceLua = `
local function holds(lk, fk, val, tok, lttl, ttl)
  local v = redis.call('GET', lk)
  if v then
    return v == val
  end
  local f = redis.call('GET', fk)
  if f and f ~= tok then
    return false
  end
  redis.call('SET', lk, val, 'PX', lttl)
  redis.call('SET', fk, tok, 'PX', ttl)
  return true
end
`

// acquireScript: KEYS lease, fence. ARGV node, lease ttl ms, ttl ms. It
// returns the lease's value: the holder's, or, when there was none, a new
// lease of node with the next token.
var acquireScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  return v
end
local t = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
v = ARGV[1] .. ' ' .. t
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return v
`)

// renewScript: KEYS lease, fence. ARGV value, token, lease ttl ms, ttl ms.
// 1 when the lease is still the caller's (extended), else 0.
var renewScript = redis.NewScript(fenceLua + `
if holds(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
`)

// releaseScript: KEYS lease. ARGV value. Deletes the lease if it is the
// caller's.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// parseLease splits a lease value into its node and token.
func parseLease(v string) (node string, token int64, ok bool) {
	node, t, found := strings.Cut(v, " ")
	token, err := strconv.ParseInt(t, 10, 64)
	return node, token, found && err == nil && node != ""
}

// lease returns this node's lease of session, acquiring it when nobody
// holds it (or adopting it when another node placed the session here). It
// fails with rooms.ErrNotOwner when another node holds it. Without
// Options.Node it is the zero lease.
func (s *Store) lease(ctx context.Context, session string) (lease, error) {
	if s.node == "" {
		return lease{}, nil
	}
	s.mu.Lock()
	l, ok := s.leases[session]
	s.mu.Unlock()
	if ok {
		return l, nil
	}
	owner, l, err := s.acquire(ctx, session, s.node)
	if err != nil {
		return lease{}, err
	}
	if owner != s.node {
		return lease{}, fmt.Errorf("redisstore: session %q is owned by node %q: %w", session, owner, rooms.ErrNotOwner)
	}
	return l, nil
}

// acquire returns the owner of session, placing it on node when nobody
// holds its lease. When the owner is this node, the lease is held from
// now on (and renewed by Renew).
func (s *Store) acquire(ctx context.Context, session, node string) (owner string, l lease, err error) {
	k := s.keys(session)
	v, err := acquireScript.Run(ctx, s.rdb, []string{k[3], k[4]}, node,
		s.leaseTTL.Milliseconds(), s.ttl.Milliseconds()).Text()
	if err != nil {
		return "", lease{}, fmt.Errorf("redisstore: lease of %q: %w", session, err)
	}
	owner, token, ok := parseLease(v)
	if !ok {
		return "", lease{}, fmt.Errorf("redisstore: lease of %q: bad value %q", session, v)
	}
	l = lease{val: v, token: token}
	if owner == s.node {
		s.mu.Lock()
		s.leases[session] = l
		s.mu.Unlock()
	}
	return owner, l, nil
}

// Owner returns the node that holds session's lease: "" when none does.
func (s *Store) Owner(ctx context.Context, session string) (string, error) {
	v, err := s.rdb.Get(ctx, s.keys(session)[3]).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redisstore: owner of %q: %w", session, err)
	}
	node, _, _ := parseLease(v)
	return node, nil
}

// Holds reports whether this node holds session's lease, as far as it
// knows without asking Redis (Renew finds out about lost ones). Always
// true without Options.Node.
func (s *Store) Holds(session string) bool {
	if s.node == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.leases[session]
	return ok
}

// forget drops the lease of session from those this node holds.
func (s *Store) forget(session string) {
	s.mu.Lock()
	delete(s.leases, session)
	s.mu.Unlock()
}

// Renew extends every lease this node holds, in one pipeline, and returns
// the sessions whose lease another node holds now (they are forgotten).
// A Redis that does not answer loses nothing: the leases are kept, and
// the writes stay fenced in Redis.
func (s *Store) Renew(ctx context.Context) (lost []string, err error) {
	s.mu.Lock()
	held := make(map[string]lease, len(s.leases))
	for id, l := range s.leases {
		held[id] = l
	}
	s.mu.Unlock()
	if len(held) == 0 {
		return nil, nil
	}
	cmds := make(map[string]*redis.Cmd, len(held))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for id, l := range held {
			k := s.keys(id)
			cmds[id] = renewScript.Eval(ctx, p, []string{k[3], k[4]}, l.val, l.token,
				s.leaseTTL.Milliseconds(), s.ttl.Milliseconds())
		}
		return nil
	})
	for id, c := range cmds {
		if n, cerr := c.Int(); cerr == nil && n == 0 {
			lost = append(lost, id)
		}
	}
	s.mu.Lock()
	for _, id := range lost {
		if s.leases[id] == held[id] {
			delete(s.leases, id)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return lost, fmt.Errorf("redisstore: renew leases: %w", err)
	}
	return lost, nil
}

// Release gives up every lease this node holds, so that other nodes take
// the sessions over at once: what a node shutting down calls last.
func (s *Store) Release(ctx context.Context) error {
	s.mu.Lock()
	held := s.leases
	s.leases = make(map[string]lease)
	s.mu.Unlock()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for id, l := range held {
			releaseScript.Eval(ctx, p, []string{s.keys(id)[3]}, l.val)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: release leases: %w", err)
	}
	return nil
}
