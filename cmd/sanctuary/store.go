package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore"
	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// storePingTimeout bounds the check that Redis answers at startup;
// readyStoreTimeout the one /readyz makes (a load balancer polls it).
const (
	storePingTimeout  = 5 * time.Second
	readyStoreTimeout = 500 * time.Millisecond
)

// openStore returns the session store -redis asks for, this node's
// cluster on it, and a function that closes it; nil (memory only) without
// -redis. A Redis that does not answer at startup is an error: the server
// would not find its sessions. listen is the address the server listens
// on, the public URL's default.
func (c config) openStore(log *slog.Logger, listen string) (rooms.Store, *redisstore.Cluster, func(), error) {
	if c.redisURL == "" {
		return nil, nil, func() {}, nil
	}
	rdb, err := redisstore.Dial(c.redisURL, c.redisSentinel)
	if err != nil {
		return nil, nil, nil, err
	}
	node := newNodeID()
	store := redisstore.New(rdb, redisstore.Options{Node: node, LeaseTTL: c.leaseTTL})
	ctx, cancel := context.WithTimeout(context.Background(), storePingTimeout)
	defer cancel()
	if err := store.Ping(ctx); err != nil {
		rdb.Close()
		return nil, nil, nil, err
	}
	public := c.publicURL
	if public == "" {
		public = "http://" + listen
		if c.tlsCert != "" {
			public = "https://" + listen
		}
	}
	wsURL, err := websocketURL(public)
	if err != nil {
		rdb.Close()
		return nil, nil, nil, err
	}
	cluster, err := redisstore.NewCluster(store, wsURL)
	if err != nil {
		rdb.Close()
		return nil, nil, nil, err
	}
	log.Info("session store: redis", "sentinel", c.redisSentinel != "", "node", node, "public_url", wsURL,
		"lease_ttl", c.leaseTTL)
	return store, cluster, func() { rdb.Close() }, nil
}

// newNodeID names this process among the nodes on one Redis.
func newNodeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "n-" + hex.EncodeToString(b)
}

// websocketURL turns a node's public URL into its websocket URL:
// https://host[/prefix] is wss://host[/prefix]/ws, http:// is ws://; a
// ws:// or wss:// URL is taken as it is.
func websocketURL(public string) (string, error) {
	u, err := url.Parse(public)
	if err != nil {
		return "", err
	}
	if u.Host == "" {
		return "", errors.New("want an absolute URL, such as https://node-a.example.com")
	}
	switch u.Scheme {
	case "ws", "wss":
		return u.String(), nil
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", errors.New("want an http://, https://, ws:// or wss:// URL")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	return u.String(), nil
}

// runCluster heartbeats with this node's load and renews its leases until
// ctx ends, then deregisters it and releases its leases. A lease lost to
// another node sends that session's clients there.
func runCluster(ctx context.Context, cluster *redisstore.Cluster, sig *signaling.Server, engine *sfu.Engine,
	log *slog.Logger) {
	last, lastAt := engine.Stats().PacketsForwarded, time.Now()
	load := func() redisstore.Load {
		hub := sig.Hub()
		now, n := time.Now(), engine.Stats().PacketsForwarded
		pps := 0.0
		if dt := now.Sub(lastAt).Seconds(); dt > 0 {
			pps = float64(n-last) / dt
		}
		last, lastAt = n, now
		return redisstore.Load{Participants: hub.Participants(), Sessions: hub.Sessions(), PacketsPerSecond: pps}
	}
	cluster.Run(ctx, load, func(id string) { go sig.SessionMoved(id) }, log)
}
