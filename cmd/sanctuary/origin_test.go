package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sanctuary-sfu/sanctuary/signaling"
)

func TestOriginPolicy(t *testing.T) {
	req := func(host, origin string) *http.Request {
		r, _ := http.NewRequest("GET", "http://"+host+"/ws", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		return r
	}
	cases := []struct {
		name, list string
		dev        bool
		r          *http.Request
		want       bool
	}{
		{"no Origin header: not a browser", "", false, req("sfu.example.org", ""), true},
		{"the server's own page", "", false, req("sfu.example.org", "https://sfu.example.org"), true},
		{"the server's own page, other case", "", false, req("SFU.example.org", "https://sfu.EXAMPLE.org"), true},
		{"a foreign page", "", false, req("sfu.example.org", "https://evil.example.com"), false},
		{"a foreign page in dev mode", "", true, req("127.0.0.1:8080", "https://evil.example.com"), true},
		{"an allowed page", "https://app.example.org", false, req("sfu.example.org", "https://app.example.org"), true},
		{"an allowed page, trailing slash in the list", "https://app.example.org/", false, req("sfu.example.org", "https://app.example.org"), true},
		{"the allowed host on another scheme", "https://app.example.org", false, req("sfu.example.org", "http://app.example.org"), false},
		{"the allowed host on another port", "https://app.example.org", false, req("sfu.example.org", "https://app.example.org:8443"), false},
		{"dev mode with a list checks the list", "https://app.example.org", true, req("127.0.0.1:8080", "https://evil.example.com"), false},
		{"any", "*", false, req("sfu.example.org", "https://evil.example.com"), true},
		{"a malformed Origin", "", false, req("sfu.example.org", "null"), false},
	}
	for _, tc := range cases {
		p, err := parseOrigins(tc.list, tc.dev)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := p.allows(tc.r); got != tc.want {
			t.Errorf("%s: allows = %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{"app.example.org", "ftp://app.example.org", "https://app.example.org/path", "https://"} {
		if _, err := parseOrigins(bad, false); err == nil {
			t.Errorf("-allowed-origins %q accepted", bad)
		}
	}
}

// Out of dev mode, a browser page of another origin cannot open the
// websocket: it gets 403 with the JSON code origin_not_allowed, while the
// server's own origin and non-browser clients can.
func TestWebsocketFromAForeignOriginIsRefused(t *testing.T) {
	ts := startServer(t, "-allowed-origins", "https://app.example.org")
	url := "ws://" + ts.addr + "/ws"
	dial := func(origin string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		return websocket.DefaultDialer.Dial(url, h)
	}
	_, resp, err := dial("https://evil.example.com")
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v, %v", resp, err)
	}
	var body struct{ Code, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != signaling.CodeOriginNotAllowed {
		t.Errorf("foreign origin: body %+v, %v", body, err)
	}
	for _, origin := range []string{"", "https://app.example.org", "http://" + ts.addr} {
		ws, _, err := dial(origin)
		if err != nil {
			t.Errorf("origin %q: %v", origin, err)
			continue
		}
		_ = ws.Close()
	}
}

// With -tls-cert and -tls-key the server speaks HTTPS and WSS itself.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	ts := startServer(t, "-tls-cert", certFile, "-tls-key", keyFile)
	if !strings.HasPrefix(ts.url, "https://") {
		t.Fatalf("url %s", ts.url)
	}
	tlsCfg := &tls.Config{RootCAs: pool}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: patience}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get(ts.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("GET /healthz over TLS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	dialer := websocket.Dialer{TLSClientConfig: tlsCfg}
	ws, _, err := dialer.Dial("wss://"+ts.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]string{"type": "ping", "id": "p"}); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := ws.ReadJSON(&m); err != nil || m["type"] != signaling.TypePong {
		t.Fatalf("ping over WSS: %v %v", m, err)
	}
	// Plain HTTP on the TLS port is not served.
	if resp, err := http.Get("http://" + ts.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the TLS port")
		}
	}
	// A key without its certificate is refused at start.
	if _, err := parseConfig([]string{"-jwt-secret", "s", "-tls-key", keyFile}, env(nil), nil); err == nil {
		t.Error("-tls-key without -tls-cert accepted")
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key to
// files, and returns them with a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}
