package sfu

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// TestSecretsMakeDTLSKeys runs real DTLS handshakes over loopback UDP, the
// server with the key log and ServerHello hook of dtlsSecrets, and checks
// that the keys made from them seal exactly as the keys pion's DTLS
// exporter gives (what pion's SRTP session uses), for each cipher suite and
// SRTP profile a browser or pion may choose: a packet sealed with
// localKeys is opened by a context of the client's exported keys.
func TestSecretsMakeDTLSKeys(t *testing.T) {
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	for _, suite := range []dtls.CipherSuiteID{
		dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		dtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	} {
		for _, profile := range []dtls.SRTPProtectionProfile{
			dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80,
		} {
			t.Run(dtls.CipherSuiteName(suite)+"/"+profileName(profile), func(t *testing.T) {
				secrets := &dtlsSecrets{}
				server, client := dtlsPair(t, &dtls.Config{
					Certificates: []tls.Certificate{cert}, CipherSuites: []dtls.CipherSuiteID{suite},
					SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{profile},
					KeyLogWriter:           secrets, ServerHelloMessageHook: secrets.serverHello,
				}, &dtls.Config{
					Certificates: []tls.Certificate{cert}, CipherSuites: []dtls.CipherSuiteID{suite},
					SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{profile}, InsecureSkipVerify: true,
				})
				defer server.Close()
				defer client.Close()

				ours, gcm, err := secrets.localKeys()
				if err != nil {
					t.Fatal(err)
				}
				if isGCM := profile != dtls.SRTP_AES128_CM_HMAC_SHA1_80; (gcm != nil) != isGCM {
					t.Fatalf("keys for the slots' own sealing: %v, want %v", gcm != nil, isGCM)
				}
				p, _ := srtpProfile(profile)
				state, _ := client.ConnectionState()
				cfg := srtp.Config{Profile: p}
				if err := cfg.ExtractSessionKeysFromDTLS(&state, true); err != nil {
					t.Fatal(err)
				}
				// The client's remote keys are the server's local ones.
				theirs, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, p)
				if err != nil {
					t.Fatal(err)
				}
				h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 7, Timestamp: 960, SSRC: 1234}
				plain, _ := (&rtp.Packet{Header: h, Payload: []byte("opus frame")}).Marshal()
				sealed, err := ours.EncryptRTP(nil, plain, nil)
				if err != nil {
					t.Fatal(err)
				}
				opened, err := theirs.DecryptRTP(nil, sealed, nil)
				if err != nil {
					t.Fatalf("the client cannot open what localKeys sealed: %v", err)
				}
				if !bytes.Equal(opened, plain) {
					t.Fatalf("opened %x, sealed %x", opened, plain)
				}
				if gcm != nil { // and what the slots seal themselves (srtpseal.go)
					h.SequenceNumber++
					plain, _ := (&rtp.Packet{Header: h, Payload: []byte("opus frame")}).Marshal()
					sealed, err := gcm.sealRTP(nil, &h, []byte("opus frame"), &rtpStream{})
					if err != nil {
						t.Fatal(err)
					}
					opened, err := theirs.DecryptRTP(nil, sealed, nil)
					if err != nil || !bytes.Equal(opened, plain) {
						t.Fatalf("the client cannot open what the slots sealed: %v", err)
					}
				}

				// The master secret is gone once the keys are made.
				secrets.wipe()
				if _, _, err := secrets.localKeys(); err == nil {
					t.Error("keys made again after wipe")
				}
			})
		}
	}
}

// TestSecretsIncomplete: without the ServerHello (the server was the DTLS
// client) or the key log, or with a line that is not a key, there are no
// keys.
func TestSecretsIncomplete(t *testing.T) {
	if _, _, err := (&dtlsSecrets{}).localKeys(); err == nil {
		t.Error("keys from nothing")
	}
	d := &dtlsSecrets{}
	_, _ = d.Write([]byte("CLIENT_RANDOM 00 11\n"))                 // a random of the wrong length
	_, _ = d.Write([]byte("SERVER_HANDSHAKE_TRAFFIC_SECRET x y\n")) // TLS 1.3 labels: not ours
	if d.master != nil {
		t.Error("a malformed key log line was taken")
	}
	_, _ = d.Write([]byte("CLIENT_RANDOM " + string(bytes.Repeat([]byte("ab"), 32)) + " " + string(bytes.Repeat([]byte("cd"), 48)) + "\n"))
	if d.master == nil {
		t.Fatal("a well-formed key log line was not taken")
	}
	if _, _, err := d.localKeys(); err == nil {
		t.Error("keys without the ServerHello")
	}
}

func profileName(p dtls.SRTPProtectionProfile) string {
	switch p {
	case dtls.SRTP_AEAD_AES_128_GCM:
		return "AEAD_AES_128_GCM"
	case dtls.SRTP_AEAD_AES_256_GCM:
		return "AEAD_AES_256_GCM"
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		return "AES128_CM_HMAC_SHA1_80"
	}
	return "unknown"
}

// dtlsPair connects a DTLS server and client over loopback UDP.
func dtlsPair(t *testing.T, serverCfg, clientCfg *dtls.Config) (server, client *dtls.Conn) {
	t.Helper()
	sc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if server, err = dtls.Server(sc, cc.LocalAddr(), serverCfg); err != nil {
		t.Fatal(err)
	}
	if client, err = dtls.Client(cc, sc.LocalAddr(), clientCfg); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() { errs <- server.HandshakeContext(ctx) }()
	if err := client.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return server, client
}
