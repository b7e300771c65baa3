package main

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sanctuary-sfu/sanctuary/auth/agora"
)

// TestConfigAgora checks the Agora credentials of the server: from flags or
// their SANCTUARY_* twins, none (the endpoint answers 503), or a refusal to
// start on half a pair or a malformed one.
func TestConfigAgora(t *testing.T) {
	base := []string{"-jwt-secret", "s"}
	pair := agora.Credentials{AppID: testAppID, AppCertificate: testCert}
	tests := []struct {
		name   string
		args   []string
		getenv map[string]string
		want   agora.Credentials
		err    string // "" for success
		is     error
	}{
		{"none", nil, nil, agora.Credentials{}, "", nil},
		{"flags", []string{"-agora-app-id", testAppID, "-agora-app-certificate", testCert}, nil, pair, "", nil},
		{"environment", nil, map[string]string{"SANCTUARY_AGORA_APP_ID": testAppID, "SANCTUARY_AGORA_APP_CERTIFICATE": testCert}, pair, "", nil},
		{"flag wins", []string{"-agora-app-id", testAppID},
			map[string]string{"SANCTUARY_AGORA_APP_ID": "bad", "SANCTUARY_AGORA_APP_CERTIFICATE": testCert}, pair, "", nil},
		{"id only", []string{"-agora-app-id", testAppID}, nil, agora.Credentials{}, "set both or neither", nil},
		{"certificate only", nil, map[string]string{"SANCTUARY_AGORA_APP_CERTIFICATE": testCert}, agora.Credentials{}, "set both or neither", nil},
		{"malformed id", []string{"-agora-app-id", "xyz", "-agora-app-certificate", testCert}, nil, agora.Credentials{},
			"app id must be 32 hex", agora.ErrBadCredentials},
		{"malformed certificate", []string{"-agora-app-id", testAppID, "-agora-app-certificate", "NOTHEX-cert-value-padded-to-32ch"}, nil, agora.Credentials{},
			"not hexadecimal", agora.ErrBadCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(append(append([]string{}, base...), tc.args...), env(tc.getenv), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Fatalf("error %v does not match %v", err, tc.is)
				}
				if strings.Contains(err.Error(), "NOTHEX") {
					t.Fatalf("the certificate leaks: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.agora != tc.want {
				t.Fatalf("credentials %+v, want %+v", c.agora, tc.want)
			}
			ac := c.agoraConfig()
			if (ac == nil) != (tc.want == agora.Credentials{}) {
				t.Fatalf("agoraConfig() = %+v", ac)
			}
			if ac != nil && ac.Credentials != tc.want {
				t.Fatalf("agoraConfig().Credentials = %+v", ac.Credentials)
			}
		})
	}
}
