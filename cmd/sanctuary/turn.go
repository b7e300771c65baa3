package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v5"

	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// defaultTURNTTL is how long the TURN credentials of a welcome last. A TURN
// server checks them on every refresh of an allocation, so they must
// outlive the longest session a participant stays in without reconnecting.
const defaultTURNTTL = 12 * time.Hour

// turnConfig is the TURN part of the configuration: an embedded TURN server
// (-turn-port), external ones sharing a secret (-turn-urls, coturn's
// use-auth-secret), or both. Each participant's welcome carries
// credentials of the TURN REST scheme, made for it and expiring.
type turnConfig struct {
	port    int           // embedded server's UDP and TCP port; 0: none
	relayIP string        // embedded: the public address relayed media uses
	host    string        // embedded: the host name clients reach it by; "" means relayIP
	secret  string        // the shared secret; generated for an embedded server when empty
	urls    []string      // external servers: turn:/turns:/stun: URLs
	ttl     time.Duration // credential lifetime
}

func (c *turnConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.port, "turn-port", 0, "run the embedded TURN server on this UDP and TCP port (0: none)")
	fs.StringVar(&c.relayIP, "turn-relay-ip", "", "the embedded TURN server's public relay address (default: the first -nat-ip; 127.0.0.1 with -ice-loopback-only)")
	fs.StringVar(&c.host, "turn-host", "", "host name clients reach the embedded TURN server by (default: the relay address)")
	fs.StringVar(&c.secret, "turn-secret", "", "TURN REST shared secret (coturn's static-auth-secret); generated for the embedded server when not set (prefer SANCTUARY_TURN_SECRET)")
	fs.Func("turn-urls", "comma-separated URLs of external TURN/STUN servers sharing -turn-secret, e.g. turn:turn.example.org:3478?transport=udp", func(s string) error {
		c.urls = nil
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") && !strings.HasPrefix(u, "stun:") {
					return fmt.Errorf("%q is not a turn:, turns: or stun: URL", u)
				}
				c.urls = append(c.urls, u)
			}
		}
		return nil
	})
	fs.DurationVar(&c.ttl, "turn-ttl", defaultTURNTTL, "lifetime of the TURN credentials handed to each participant")
}

// resolve checks the TURN flags once parsed and fills the defaults that
// depend on others.
func (c *turnConfig) resolve(natIPs []string, loopbackOnly bool) error {
	if c.port < 0 || c.port > 65535 || c.ttl <= 0 {
		return errors.New("-turn-port must be 0..65535 and -turn-ttl positive")
	}
	if len(c.urls) > 0 && c.secret == "" {
		return errors.New("-turn-urls needs -turn-secret, the secret those servers share")
	}
	if c.port == 0 {
		return nil
	}
	if c.relayIP == "" {
		switch {
		case len(natIPs) > 0:
			c.relayIP = natIPs[0]
		case loopbackOnly:
			c.relayIP = "127.0.0.1"
		default:
			return errors.New("-turn-port needs -turn-relay-ip (or -nat-ip): the public address relayed media uses")
		}
	}
	if net.ParseIP(c.relayIP) == nil {
		return fmt.Errorf("-turn-relay-ip: %q is not an IP address", c.relayIP)
	}
	if c.host == "" {
		c.host = c.relayIP
	}
	if c.secret == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		c.secret = hex.EncodeToString(b)
	}
	return nil
}

// start runs the embedded TURN server, if configured; nil otherwise. Media
// may be relayed only to this server's own addresses.
func (c *turnConfig) start(natIPs []string, loopbackOnly bool, log *slog.Logger) (*sfu.TURNServer, error) {
	if c.port == 0 {
		return nil, nil
	}
	peers, err := sfu.LocalIPs(true)
	if err != nil {
		return nil, err
	}
	for _, ip := range natIPs {
		peers = append(peers, net.ParseIP(ip))
	}
	listen := ""
	if loopbackOnly {
		listen = "127.0.0.1"
	}
	return sfu.StartTURN(sfu.TURNConfig{Port: c.port, ListenAddress: listen, RelayIP: net.ParseIP(c.relayIP),
		Secret: c.secret, PeerIPs: peers, Logger: log})
}

// iceServers is signaling.Config.ICEServers: the TURN servers with fresh
// credentials for participant pid, or nil when there are none.
func (c *turnConfig) iceServers() func(pid string) []signaling.ICEServer {
	urls := append([]string{}, c.urls...)
	if c.port != 0 {
		hostPort := net.JoinHostPort(c.host, strconv.Itoa(c.port))
		urls = append(urls, "turn:"+hostPort+"?transport=udp", "turn:"+hostPort+"?transport=tcp")
	}
	if len(urls) == 0 {
		return nil
	}
	secret, ttl := c.secret, c.ttl
	return func(pid string) []signaling.ICEServer {
		user, pass, err := turn.GenerateLongTermTURNRESTCredentials(secret, pid, ttl)
		if err != nil {
			return nil // HMAC-SHA1 does not fail
		}
		return []signaling.ICEServer{{URLs: urls, Username: user, Credential: pass}}
	}
}
