package sfu

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/srtp/v3"
)

// dtlsSecrets learns, from one peer's DTLS handshake, what the SRTP keys
// of its downstream are made of, so that the direct write path
// (direct.go) can seal packets itself.
//
// pion derives the SRTP keys from the DTLS connection state (RFC 5764
// 4.2: the TLS exporter, label "EXTRACTOR-dtls_srtp") and keeps them in a
// session it does not expose. The same derivation needs the master secret
// and both hello randoms, and the handshake shows them through two
// settings pion has: the key log (SettingEngine.SetDTLSKeyLogWriter, which
// writes "CLIENT_RANDOM <client random> <master secret>", NSS's format)
// and the ServerHello hook (SetDTLSServerHelloMessageHook), which sees the
// server random, the cipher suite and the SRTP profile we chose. Both come
// only when the server is the DTLS server, which it is with every client
// that answers our offer's "actpass" with "active" (browsers and pion
// do); any other handshake leaves the secrets incomplete and the peer on
// pion's write path.
//
// The secrets never leave this struct: not logged, not exported; the
// master secret is wiped once the keys are made.
type dtlsSecrets struct {
	mu sync.Mutex

	// From the ServerHello we send.
	hello        bool
	serverRandom [handshake.RandomLength]byte
	suite        dtls.CipherSuiteID
	profile      dtls.SRTPProtectionProfile
	mki          bool // an SRTP master key identifier was negotiated

	// From the key log.
	clientRandom [handshake.RandomLength]byte
	master       []byte
}

// serverHello is the ServerHello hook: it notes what the keys need and
// sends the message unchanged.
func (d *dtlsSecrets) serverHello(m handshake.MessageServerHello) handshake.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hello = m.CipherSuiteID != nil
	if d.hello {
		d.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	d.serverRandom = m.Random.MarshalFixed()
	d.profile, d.mki = 0, false
	for _, ext := range m.Extensions {
		if u, ok := ext.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			d.profile = u.ProtectionProfiles[0]
			d.mki = len(u.MasterKeyIdentifier) > 0
		}
	}
	return &m
}

// Write takes the key log: one line per handshake,
// "CLIENT_RANDOM <64 hex digits> <96 hex digits>\n".
func (d *dtlsSecrets) Write(line []byte) (int, error) {
	f := bytes.Fields(line)
	if len(f) != 3 || string(f[0]) != "CLIENT_RANDOM" || hex.DecodedLen(len(f[1])) != handshake.RandomLength {
		return len(line), nil // not a line we use; pion ignores the key log's errors anyway
	}
	master := make([]byte, hex.DecodedLen(len(f[2])))
	var random [handshake.RandomLength]byte
	if _, err := hex.Decode(random[:], f[1]); err != nil {
		return len(line), nil
	}
	if _, err := hex.Decode(master, f[2]); err != nil {
		return len(line), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clientRandom, d.master = random, master
	return len(line), nil
}

// wipe forgets the master secret: the keys are made, or will not be.
func (d *dtlsSecrets) wipe() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.master)
	d.master = nil
}

var errNoSecrets = errors.New("sfu: no SRTP secrets from this handshake")

// localKeys returns the keys the server seals its packets to this peer
// with, made from the server's write key and salt (RFC 5764 4.2) for the
// negotiated profile: pion's SRTP context, and under an AEAD AES-GCM
// profile the session keys the slots seal RTP with themselves
// (srtpseal.go; nil under AES-CM). It fails when the handshake did not
// show everything the keys need.
func (d *dtlsSecrets) localKeys() (*srtp.Context, *gcmKeys, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.hello || d.master == nil || d.mki {
		return nil, nil, errNoSecrets
	}
	if _, ok := prfHash(d.suite); !ok {
		return nil, nil, fmt.Errorf("%w: cipher suite %#04x", errNoSecrets, uint16(d.suite))
	}
	profile, ok := srtpProfile(d.profile)
	if !ok {
		return nil, nil, fmt.Errorf("%w: SRTP profile %#04x", errNoSecrets, uint16(d.profile))
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(exporter{d}, false); err != nil {
		return nil, nil, err
	}
	defer clear(cfg.Keys.LocalMasterKey)
	ctx, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile)
	if err != nil {
		return nil, nil, err
	}
	var gcm *gcmKeys
	if profile == srtp.ProtectionProfileAeadAes128Gcm || profile == srtp.ProtectionProfileAeadAes256Gcm {
		if gcm, err = newGCMKeys(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt); err != nil {
			return nil, nil, err
		}
	}
	return ctx, gcm, nil
}

// exporter is the TLS 1.2 exporter (RFC 5705) over the secrets, with no
// context, as srtp.Config.ExtractSessionKeysFromDTLS asks for it. d.mu
// held.
type exporter struct{ d *dtlsSecrets }

func (x exporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("sfu: exporter context not supported")
	}
	hash, _ := prfHash(x.d.suite)
	seed := make([]byte, 0, len(label)+2*handshake.RandomLength)
	seed = append(append(append(seed, label...), x.d.clientRandom[:]...), x.d.serverRandom[:]...)
	return prf.PHash(x.d.master, seed, length, hash)
}

// prfHash is the TLS 1.2 PRF hash of the cipher suites pion offers by
// default: SHA-384 for the AES-256-GCM suites, SHA-256 for the others.
// Any other suite keeps the peer on pion's write path.
func prfHash(id dtls.CipherSuiteID) (prf.HashFunc, bool) {
	switch id {
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return sha512.New384, true
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, dtls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, dtls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:
		return sha256.New, true
	}
	return nil, false
}

// srtpProfile maps the DTLS use_srtp profile to pion's SRTP profile, as
// pion's DTLS transport does.
func srtpProfile(p dtls.SRTPProtectionProfile) (srtp.ProtectionProfile, bool) {
	switch p {
	case dtls.SRTP_AEAD_AES_128_GCM:
		return srtp.ProtectionProfileAeadAes128Gcm, true
	case dtls.SRTP_AEAD_AES_256_GCM:
		return srtp.ProtectionProfileAeadAes256Gcm, true
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, true
	}
	return 0, false
}
