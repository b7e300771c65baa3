package main

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTURNFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		err     string   // a part of the error; "" for none
		urls    []string // the URLs of a welcome's ICE servers
		relayIP string
	}{
		{name: "none", args: nil},
		{name: "embedded on loopback", args: []string{"-ice-loopback-only", "-turn-port", "3478"},
			urls: []string{"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"}, relayIP: "127.0.0.1"},
		{name: "embedded behind NAT", args: []string{"-nat-ip", "203.0.113.7", "-turn-port", "3478", "-turn-host", "turn.example.org"},
			urls: []string{"turn:turn.example.org:3478?transport=udp", "turn:turn.example.org:3478?transport=tcp"}, relayIP: "203.0.113.7"},
		{name: "embedded without a public address", args: []string{"-turn-port", "3478"}, err: "-turn-relay-ip"},
		{name: "a relay address that is no IP", args: []string{"-turn-port", "3478", "-turn-relay-ip", "turn.example.org"}, err: "not an IP"},
		{name: "external", args: []string{"-turn-urls", "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349", "-turn-secret", "s"},
			urls: []string{"turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"}},
		{name: "external without the secret", args: []string{"-turn-urls", "turn:turn.example.org:3478"}, err: "-turn-secret"},
		{name: "not a TURN URL", args: []string{"-turn-urls", "https://turn.example.org", "-turn-secret", "s"}, err: "turn:"},
	}
	for _, tc := range cases {
		cfg, err := parseConfig(append([]string{"-jwt-secret", "s"}, tc.args...), env(nil), io.Discard)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if cfg.turn.relayIP != tc.relayIP {
			t.Errorf("%s: relay address %q, want %q", tc.name, cfg.turn.relayIP, tc.relayIP)
		}
		f := cfg.turn.iceServers()
		if len(tc.urls) == 0 {
			if f != nil {
				t.Errorf("%s: ICE servers without TURN", tc.name)
			}
			continue
		}
		servers := f("p-abc")
		if len(servers) != 1 || strings.Join(servers[0].URLs, " ") != strings.Join(tc.urls, " ") {
			t.Fatalf("%s: servers %+v, want URLs %v", tc.name, servers, tc.urls)
		}
		// The credentials are the TURN REST scheme's: "expiry:participant",
		// base64(HMAC-SHA1(secret, username)), expiring after -turn-ttl.
		expiry, pid, _ := strings.Cut(servers[0].Username, ":")
		exp, err := strconv.ParseInt(expiry, 10, 64)
		if pid != "p-abc" || err != nil ||
			time.Until(time.Unix(exp, 0)) < defaultTURNTTL-time.Hour || time.Until(time.Unix(exp, 0)) > defaultTURNTTL {
			t.Errorf("%s: username %q, want \"<now + %v>:p-abc\"", tc.name, servers[0].Username, defaultTURNTTL)
		}
		mac := hmac.New(sha1.New, []byte(cfg.turn.secret))
		mac.Write([]byte(servers[0].Username))
		if servers[0].Credential != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
			t.Errorf("%s: credential is not the HMAC of the username", tc.name)
		}
	}
}
