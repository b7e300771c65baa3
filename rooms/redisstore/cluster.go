package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Node registry keys, in one hash slot ({nodes}):
//
//	<prefix>n:{nodes}         set: the ids of the nodes that registered
//	<prefix>n:{nodes}:<node>  hash: url (public), p (participants), s (sessions), pps (forwarded packets/s);
//	                          expires LeaseTTL after the node's last heartbeat
//
// A node whose hash expired is dead, as its leases are about to be.

// Load is what a node reports of itself with each heartbeat; a new
// session goes to the node with the least.
type Load struct {
	Participants     int
	Sessions         int
	PacketsPerSecond float64
}

// less orders loads: participants first, then sessions, then packets.
func (a Load) less(b Load) bool {
	if a.Participants != b.Participants {
		return a.Participants < b.Participants
	}
	if a.Sessions != b.Sessions {
		return a.Sessions < b.Sessions
	}
	return a.PacketsPerSecond < b.PacketsPerSecond
}

// Node is one registered node.
type Node struct {
	ID   string
	URL  string // its public websocket URL
	Load Load
}

// ErrOwnerGone: the node holding a session's lease no longer heartbeats
// (it died); its lease ends within LeaseTTL, and the session then goes to
// another node. Ask again in a moment.
var ErrOwnerGone = errors.New("redisstore: the session's node is gone; its lease has not expired yet")

// Cluster is this node among the nodes sharing one Redis: its heartbeat,
// the placement of new sessions on the least loaded node, and the
// renewal of the leases its Store holds. Create it with NewCluster on a
// Store with Options.Node, and Run it.
type Cluster struct {
	store *Store        // immutable; never nil, with node set
	url   string        // immutable: this node's public websocket URL
	every time.Duration // immutable: heartbeat and renewal period, LeaseTTL/3
}

// NewCluster returns the Cluster of store's node, reachable at url (its
// public websocket URL, given to clients in redirects). store must have
// Options.Node.
func NewCluster(store *Store, url string) (*Cluster, error) {
	if store.node == "" {
		return nil, errors.New("redisstore: a cluster needs a Store with Options.Node")
	}
	return &Cluster{store: store, url: url, every: store.leaseTTL / 3}, nil
}

// NodeID is this node's id.
func (c *Cluster) NodeID() string { return c.store.node }

func (c *Cluster) nodesKey() string           { return c.store.prefix + "n:{nodes}" }
func (c *Cluster) nodeKey(node string) string { return c.store.prefix + "n:{nodes}:" + node }

// Heartbeat registers this node with its load until LeaseTTL from now.
func (c *Cluster) Heartbeat(ctx context.Context, l Load) error {
	k := c.nodeKey(c.store.node)
	_, err := c.store.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "url", c.url, "p", l.Participants, "s", l.Sessions,
			"pps", strconv.FormatFloat(l.PacketsPerSecond, 'f', 1, 64))
		p.PExpire(ctx, k, c.store.leaseTTL)
		p.SAdd(ctx, c.nodesKey(), c.store.node)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: heartbeat: %w", err)
	}
	return nil
}

// Nodes returns the live nodes (those whose heartbeat has not expired),
// and forgets the dead ones.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	rdb := c.store.rdb
	ids, err := rdb.SMembers(ctx, c.nodesKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: nodes: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, c.nodeKey(id))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redisstore: nodes: %w", err)
	}
	var nodes []Node
	for i, id := range ids {
		h := cmds[i].Val()
		if h["url"] == "" {
			rdb.SRem(ctx, c.nodesKey(), id) // dead; best effort
			continue
		}
		n := Node{ID: id, URL: h["url"]}
		n.Load.Participants, _ = strconv.Atoi(h["p"])
		n.Load.Sessions, _ = strconv.Atoi(h["s"])
		n.Load.PacketsPerSecond, _ = strconv.ParseFloat(h["pps"], 64)
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// Claim says where session is served. It returns "" when this node owns
// it (it holds its lease now), else the public URL of the node that does.
// A session nobody owns goes to the least loaded live node (this one on
// a tie), which holds its lease from now on. It fails with ErrOwnerGone
// while the owner is dead but its lease has not expired.
func (c *Cluster) Claim(ctx context.Context, session string) (string, error) {
	s := c.store
	if s.Holds(session) {
		return "", nil
	}
	owner, err := s.Owner(ctx, session)
	if err != nil {
		return "", err
	}
	var nodes []Node
	if owner == "" {
		if nodes, err = c.Nodes(ctx); err != nil {
			return "", err
		}
		target := c.leastLoaded(nodes)
		if owner, _, err = s.acquire(ctx, session, target); err != nil {
			return "", err
		}
		if owner == target && target != s.node {
			// Count it at once, so that the next placements before its
			// heartbeat do not all go there. Best effort.
			s.rdb.HIncrBy(ctx, c.nodeKey(target), "s", 1)
		}
	}
	if owner == s.node {
		if _, _, err := s.acquire(ctx, session, s.node); err != nil { // adopt a lease placed here
			return "", err
		}
		return "", nil
	}
	if nodes == nil {
		if nodes, err = c.Nodes(ctx); err != nil {
			return "", err
		}
	}
	for _, n := range nodes {
		if n.ID == owner {
			return n.URL, nil
		}
	}
	return "", fmt.Errorf("session %q, node %q: %w", session, owner, ErrOwnerGone)
}

// leastLoaded returns the id of the least loaded of nodes, this node on a
// tie or when nodes does not list it... unless another is less loaded.
func (c *Cluster) leastLoaded(nodes []Node) string {
	best, bestLoad := c.store.node, Load{}
	found := false
	for _, n := range nodes {
		if n.ID == c.store.node {
			best, bestLoad, found = n.ID, n.Load, true
		}
	}
	if !found {
		return c.store.node // not registered yet: keep it here
	}
	for _, n := range nodes {
		if n.Load.less(bestLoad) {
			best, bestLoad = n.ID, n.Load
		}
	}
	return best
}

// Owns reports whether this node holds session's lease, as far as it
// knows without asking Redis.
func (c *Cluster) Owns(session string) bool { return c.store.Holds(session) }

// Run heartbeats with load() and renews the leases every LeaseTTL/3 until
// ctx ends; then it deregisters the node and releases its leases, so that
// the other nodes take its sessions over at once. lost, when non-nil, is
// told of each session whose lease another node took.
func (c *Cluster) Run(ctx context.Context, load func() Load, lost func(session string), log *slog.Logger) {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		callCtx, cancel := context.WithTimeout(ctx, c.every)
		if err := c.Heartbeat(callCtx, load()); err != nil && ctx.Err() == nil {
			log.Warn("cluster heartbeat failed", "err", err)
		}
		ids, err := c.store.Renew(callCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Warn("lease renewal failed", "err", err)
		}
		for _, id := range ids {
			log.Warn("lease lost to another node", "session", id)
			if lost != nil {
				lost(id)
			}
		}
		select {
		case <-ctx.Done():
			c.leave()
			return
		case <-t.C:
		}
	}
}

// leave deregisters the node and releases its leases.
func (c *Cluster) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.store.rdb.Del(ctx, c.nodeKey(c.store.node))
	c.store.rdb.SRem(ctx, c.nodesKey(), c.store.node)
	_ = c.store.Release(ctx)
}
