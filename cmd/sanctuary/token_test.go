package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/auth/agora"
)

// Inputs of Agora's own test vectors (public test credentials).
const (
	testAppID   = "970CA35de60c44645bbae8a215061b33"
	testCert    = "5CFd2fd1755d40ecb72977518be15d3b"
	testChannel = "7d72365eb983485397e3e3f9d460bdda"
	testUID     = "2882341273"
)

// tokenNow is the fake clock of these tests.
var tokenNow = time.Unix(1_700_000_000, 0)

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// parseCase parses "-jwt-secret s" and args with the environment getenv.
// With wantErr it checks that parsing fails saying so, and reports false;
// otherwise it fails t on any error and returns the config.
func parseCase(t *testing.T, args []string, getenv map[string]string, wantErr string) (config, bool) {
	t.Helper()
	c, err := parseConfig(append([]string{"-jwt-secret", "s"}, args...), env(getenv), io.Discard)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want one saying %q", err, wantErr)
		}
		return config{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, true
}

// runTokenTest runs the command with the fake clock and returns stdout,
// stderr and the error.
func runTokenTest(t *testing.T, getenv map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runTokenAt(args, env(getenv), &stdout, &stderr, func() time.Time { return tokenNow })
	return stdout.String(), stderr.String(), err
}

// TestTokenAgoraVectors runs the documented invocations: they must print
// Agora's own test vectors, byte for byte. The vectors carry the join
// privilege only, so they are subscriber tokens.
func TestTokenAgoraVectors(t *testing.T) {
	common := []string{"agora", "-app-id", testAppID, "-app-certificate", testCert,
		"-channel", testChannel, "-uid", testUID, "-salt", "1", "-ts", "1111111"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"007", []string{"-format", "007", "-expire", "600", "-role", "subscriber"},
			"007eJxSYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxoAAAAD//8JqJOM="},
		{"006", []string{"-format", "006", "-expire-at", "1446455471", "-role", "subscriber"},
			"006970CA35de60c44645bbae8a215061b33IACV0fZUBw+72cVoL9eyGGh3Q6Poi8bgjwVLnyKSJyOXR7dIfRBXoFHlEAABAAAAR/QQAAEAAQCvKDdW"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runTokenTest(t, nil, append(append([]string{}, common...), tc.args...)...)
			if err != nil {
				t.Fatalf("error %v; stderr %s", err, stderr)
			}
			if stdout != tc.want+"\n" {
				t.Fatalf("stdout %q\nwant   %q", stdout, tc.want+"\n")
			}
			if stderr != "" {
				t.Errorf("stderr %q, want nothing", stderr)
			}
		})
	}

	// The same from the environment, and publisher tokens differ.
	t.Run("credentials from the environment", func(t *testing.T) {
		getenv := map[string]string{"SANCTUARY_AGORA_APP_ID": testAppID, "SANCTUARY_AGORA_APP_CERTIFICATE": testCert}
		stdout, _, err := runTokenTest(t, getenv, "agora", "-channel", testChannel, "-uid", testUID,
			"-salt", "1", "-ts", "1111111", "-expire-at", "1446455471", "-role", "subscriber")
		if err != nil || stdout != tests[1].want+"\n" {
			t.Fatalf("got %q, %v", stdout, err)
		}
		stdout, _, err = runTokenTest(t, getenv, "agora", "-channel", testChannel, "-uid", testUID,
			"-salt", "1", "-ts", "1111111", "-expire-at", "1446455471")
		if err != nil || stdout == tests[1].want+"\n" {
			t.Fatalf("publisher: got %q, %v; want another token", stdout, err)
		}
	})
	t.Run("a flag wins over the environment", func(t *testing.T) {
		getenv := map[string]string{"SANCTUARY_AGORA_APP_ID": "not an app id", "SANCTUARY_AGORA_APP_CERTIFICATE": testCert}
		stdout, _, err := runTokenTest(t, getenv, append(append([]string{}, common...), tests[0].args...)...)
		if err != nil || stdout != tests[0].want+"\n" {
			t.Fatalf("got %q, %v", stdout, err)
		}
	})
}

// TestTokenAgoraDefaults checks the defaults: publisher, 006, privileges
// until now + 3600 (006) or 3600 s after issue (007), a random salt, and the
// timestamps of Agora's builders.
func TestTokenAgoraDefaults(t *testing.T) {
	creds := []string{"-app-id", testAppID, "-app-certificate", testCert}
	now := uint32(tokenNow.Unix())
	publisher := func(v uint32) map[agora.Privilege]uint32 {
		return map[agora.Privilege]uint32{agora.PrivilegeJoinChannel: v, agora.PrivilegePublishAudio: v,
			agora.PrivilegePublishVideo: v, agora.PrivilegePublishData: v}
	}
	tests := []struct {
		name       string
		args       []string
		user       string
		check      func(p agora.Parsed) bool
		privileges map[agora.Privilege]uint32
	}{
		{"006 defaults", []string{"-channel", "c"}, "",
			func(p agora.Parsed) bool { return p.Format == "006" && p.TS == now+24*3600 },
			publisher(now + 3600)},
		{"007 defaults", []string{"-channel", "c", "-format", "007"}, "",
			func(p agora.Parsed) bool { return p.Format == "007" && p.IssueTS == now && p.Expire == 3600 },
			publisher(3600)},
		{"006 account", []string{"-channel", "c", "-account", "alice", "-expire-at", "123"}, "alice",
			func(p agora.Parsed) bool { return p.Format == "006" }, publisher(123)},
		{"007 uid, expire", []string{"-channel", "c", "-format", "007", "-uid", "42", "-expire", "60", "-ts", "1000"}, "42",
			func(p agora.Parsed) bool { return p.IssueTS == 1000 && p.Expire == 60 }, publisher(60)},
		{"007 subscriber account", []string{"-channel", "c", "-format", "007", "-account", "bob", "-role", "subscriber"}, "bob",
			func(p agora.Parsed) bool { return p.Expire == 3600 },
			map[agora.Privilege]uint32{agora.PrivilegeJoinChannel: 3600}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runTokenTest(t, nil, append(append([]string{"agora"}, creds...), tc.args...)...)
			if err != nil {
				t.Fatalf("%v; stderr %s", err, stderr)
			}
			token := strings.TrimSuffix(stdout, "\n")
			p, err := agora.VerifyFor(token, testCert, "c", tc.user)
			if err != nil {
				t.Fatalf("VerifyFor(%q): %v", token, err)
			}
			if !tc.check(p) || !maps.Equal(p.Privileges, tc.privileges) || p.Salt == 0 || p.AppID != testAppID {
				t.Fatalf("parsed %+v; privileges want %v", p, tc.privileges)
			}
		})
	}
	// Without -salt the salt is drawn each time.
	a, _, _ := runTokenTest(t, nil, "agora", "-app-id", testAppID, "-app-certificate", testCert, "-channel", "c")
	b, _, _ := runTokenTest(t, nil, "agora", "-app-id", testAppID, "-app-certificate", testCert, "-channel", "c")
	if a == b {
		t.Fatal("two tokens without -salt are equal")
	}
}

func TestTokenAgoraErrors(t *testing.T) {
	creds := []string{"-app-id", testAppID, "-app-certificate", testCert}
	with := func(args ...string) []string { return append(append([]string{"agora"}, creds...), args...) }
	tests := []struct {
		name   string
		getenv map[string]string
		args   []string
		want   string // in the error
		is     error
	}{
		{"uid and account", nil, with("-channel", "c", "-uid", "1", "-account", "a"), "not both", nil},
		{"uid 0 and account", nil, with("-channel", "c", "-uid", "0", "-account", "a"), "not both", nil},
		{"empty account", nil, with("-channel", "c", "-account", ""), "-account is empty", nil},
		{"unknown format", nil, with("-channel", "c", "-format", "008"), `unknown -format "008"`, nil},
		{"unknown role", nil, with("-channel", "c", "-role", "admin"), "-role", agora.ErrBadOptions},
		{"no channel", nil, with(), "-channel is required", nil},
		{"no app id", nil, []string{"agora", "-app-certificate", testCert, "-channel", "c"}, "SANCTUARY_AGORA_APP_ID", nil},
		{"no certificate", nil, []string{"agora", "-app-id", testAppID, "-channel", "c"}, "SANCTUARY_AGORA_APP_CERTIFICATE", nil},
		{"short app id", nil, []string{"agora", "-app-id", "970CA35d", "-app-certificate", testCert, "-channel", "c"},
			"app id must be 32 hex", agora.ErrBadCredentials},
		{"certificate not hex", nil, []string{"agora", "-app-id", testAppID, "-app-certificate", "zCFd2fd1755d40ecb72977518be15d3b", "-channel", "c"},
			"not hexadecimal", agora.ErrBadCredentials},
		{"bad certificate from the environment", map[string]string{"SANCTUARY_AGORA_APP_ID": testAppID, "SANCTUARY_AGORA_APP_CERTIFICATE": "NOTHEX-cert-value"},
			[]string{"agora", "-channel", "c"}, "app certificate must be 32 hex", agora.ErrBadCredentials},
		{"-expire with 006", nil, with("-channel", "c", "-expire", "60"), "-expire is for 007", nil},
		{"-expire-at with 007", nil, with("-channel", "c", "-format", "007", "-expire-at", "60"), "-expire-at is for 006", nil},
		{"uid over 32 bits", nil, with("-channel", "c", "-uid", "4294967296"), "-uid", nil},
		{"negative salt", nil, with("-channel", "c", "-salt", "-1"), "-salt", nil},
		{"channel too long", nil, with("-channel", strings.Repeat("c", 70000)), "channel", agora.ErrBadOptions},
		{"positional argument", nil, with("-channel", "c", "extra"), `unexpected argument "extra"`, nil},
		{"unknown flag", nil, with("-channel", "c", "-nope"), "-nope", nil},
		{"no kind", nil, nil, "agora or jwt", nil},
		{"unknown kind", nil, []string{"rtm"}, `unknown kind "rtm"`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runTokenTest(t, tc.getenv, tc.args...)
			if err == nil {
				t.Fatalf("no error; stdout %q", stdout)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v does not match %v", err, tc.is)
			}
			if stdout != "" {
				t.Fatalf("stdout %q on error", stdout)
			}
			if strings.Contains(err.Error()+stderr, testCert) || strings.Contains(err.Error()+stderr, "NOTHEX-cert-value") {
				t.Fatalf("the certificate leaks: %v / %s", err, stderr)
			}
		})
	}
}

func TestTokenHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"agora", "-h"}, {"jwt", "-help"}} {
		_, stderr, err := runTokenTest(t, nil, args...)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "sanctuary token") {
			t.Fatalf("%v: %v, stderr %q", args, err, stderr)
		}
	}
}

func TestTokenJWT(t *testing.T) {
	const secret = "jwt-test-secret"
	verify := func(t *testing.T, cfg auth.Config, stdout string) auth.Identity {
		t.Helper()
		v, err := auth.NewVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		id, err := v.Verify(strings.TrimSuffix(stdout, "\n"))
		if err != nil {
			t.Fatalf("Verify(%q): %v", stdout, err)
		}
		return id
	}

	t.Run("every claim", func(t *testing.T) {
		stdout, _, err := runTokenTest(t, nil, "jwt", "-jwt-secret", secret, "-user", "u1", "-role", "host",
			"-session", "demo", "-ttl", "10m", "-alias", "Ann")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(stdout, "\n") != 1 || strings.Count(stdout, ".") != 2 {
			t.Fatalf("stdout %q: want one JWT on one line", stdout)
		}
		id := verify(t, auth.Config{HMACSecret: []byte(secret)}, stdout)
		if want := (auth.Identity{UserID: "u1", Alias: "Ann", Role: auth.RoleHost, Session: "demo"}); id != want {
			t.Fatalf("identity %+v, want %+v", id, want)
		}
	})
	t.Run("secret, issuer and audience from the environment; defaults", func(t *testing.T) {
		getenv := map[string]string{"SANCTUARY_JWT_SECRET": secret, "SANCTUARY_JWT_ISSUER": "legacy", "SANCTUARY_JWT_AUDIENCE": "sanctuary"}
		stdout, _, err := runTokenTest(t, getenv, "jwt", "-user", "u2")
		if err != nil {
			t.Fatal(err)
		}
		id := verify(t, auth.Config{HMACSecret: []byte(secret), Issuer: "legacy", Audience: "sanctuary"}, stdout)
		if want := (auth.Identity{UserID: "u2", Role: auth.RoleParticipant}); id != want {
			t.Fatalf("identity %+v, want %+v", id, want)
		}
	})
	t.Run("the token expires after -ttl", func(t *testing.T) {
		stdout, _, err := runTokenTest(t, nil, "jwt", "-jwt-secret", secret, "-user", "u3", "-ttl", "10m")
		if err != nil {
			t.Fatal(err)
		}
		verify(t, auth.Config{HMACSecret: []byte(secret)}, stdout)
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(strings.TrimSpace(stdout), claims); err != nil {
			t.Fatal(err)
		}
		iat, err1 := claims.GetIssuedAt()
		exp, err2 := claims.GetExpirationTime()
		if err1 != nil || err2 != nil || iat == nil || exp == nil || exp.Sub(iat.Time) != 10*time.Minute {
			t.Fatalf("iat %v exp %v (%v, %v): want 10 min apart", iat, exp, err1, err2)
		}
	})

	for _, tc := range []struct {
		name   string
		getenv map[string]string
		args   []string
		want   string
	}{
		{"no secret", nil, []string{"jwt", "-user", "u"}, "SANCTUARY_JWT_SECRET"},
		{"no user", nil, []string{"jwt", "-jwt-secret", secret}, "-user is required"},
		{"unknown role", nil, []string{"jwt", "-jwt-secret", secret, "-user", "u", "-role", "admin"}, `unknown role "admin"`},
		{"negative ttl", nil, []string{"jwt", "-jwt-secret", secret, "-user", "u", "-ttl", "-1h"}, "-ttl must be positive"},
		{"bad ttl", nil, []string{"jwt", "-jwt-secret", secret, "-user", "u", "-ttl", "soon"}, "-ttl"},
		{"positional", map[string]string{"SANCTUARY_JWT_SECRET": secret}, []string{"jwt", "-user", "u", "x"}, `unexpected argument "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runTokenTest(t, tc.getenv, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || stdout != "" {
				t.Fatalf("got %q, %v; want an error saying %q", stdout, err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the secret leaks: %v", err)
			}
		})
	}
}
