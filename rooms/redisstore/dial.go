package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Dial timeouts: a Redis that does not answer fails a call within about a
// second, and the Hub works from memory meanwhile.
const (
	dialTimeout = time.Second
	ioTimeout   = time.Second
)

// Dial returns a client for url: redis://[user:password@]host:port[/db]
// or rediss:// for TLS, with go-redis's query options. With master
// non-empty the host (and any addr= query values) are Redis Sentinels and
// master is the name of the master they watch. It does not connect; see
// Ping.
func Dial(url, master string) (redis.UniversalClient, error) {
	if master == "" {
		o, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dialTimeout, ioTimeout, ioTimeout
		return redis.NewClient(o), nil
	}
	o, err := redis.ParseFailoverURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: sentinel: %w", err)
	}
	o.MasterName = master
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dialTimeout, ioTimeout, ioTimeout
	return redis.NewFailoverClient(o), nil
}

// Ping checks that the store's Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}
