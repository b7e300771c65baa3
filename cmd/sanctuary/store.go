package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore"
)

// storePingTimeout bounds the check that Redis answers at startup;
// readyStoreTimeout the one /readyz makes (a load balancer polls it).
const (
	storePingTimeout  = 5 * time.Second
	readyStoreTimeout = 500 * time.Millisecond
)

// openStore returns the session store -redis asks for, and a function that
// closes it; nil (memory only) without -redis. A Redis that does not
// answer at startup is an error: the server would not find its sessions.
func (c config) openStore(log *slog.Logger) (rooms.Store, func(), error) {
	if c.redisURL == "" {
		return nil, func() {}, nil
	}
	rdb, err := redisstore.Dial(c.redisURL, c.redisSentinel)
	if err != nil {
		return nil, nil, err
	}
	store := redisstore.New(rdb, redisstore.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), storePingTimeout)
	defer cancel()
	if err := store.Ping(ctx); err != nil {
		rdb.Close()
		return nil, nil, err
	}
	log.Info("session store: redis", "sentinel", c.redisSentinel != "")
	return store, func() { rdb.Close() }, nil
}
