package sfu

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/pion/rtp"
)

// The direct write path's own SRTP sealing of RTP, for the AEAD AES-GCM
// profiles (RFC 7714), which browsers and pion negotiate first.
//
// pion's srtp.Context seals as well, but per packet it parses the header it
// was given as bytes, finds the SSRC's rollover state in a map, and keeps
// the IV in the context, so one subscriber's slots must take turns on it.
// At 50,000 packets a second that was about 8 % of the server's CPU beside
// the AES-GCM itself (the map lookup alone 5 %: a cache miss, as every
// packet of a fan-out goes to a different subscriber). Here the keys are
// the subscriber's, read only, and shared by its slots; the rollover
// counter is the slot's own, under the slot's lock; the header is
// marshalled once, into the buffer the packet is sealed in.
//
// What stays pion's: RTCP (the reports, once a second), and RTP under the
// AES-CM profile, sealed with the srtp.Context (directPath.writeRTPPion).

// gcmKeys are one subscriber's SRTP session keys for RTP under an AEAD
// AES-GCM profile. Read only once made: cipher.NewGCM's AEAD keeps no
// state between calls, so slots on several goroutines seal with it at once.
type gcmKeys struct {
	aead cipher.AEAD
	salt [12]byte // the session salt (RFC 7714 8.1)
}

// gcmTagBytes is the tag cipher.NewGCM's AEAD appends (RFC 7714 8: 16).
const gcmTagBytes = 16

// SRTP key derivation labels (RFC 3711 4.3.1).
const (
	labelRTPKey  = 0x00
	labelRTPSalt = 0x02
)

// newGCMKeys derives the session keys from the master key (16 or 32 bytes:
// AEAD_AES_128_GCM, AEAD_AES_256_GCM) and the 12-byte master salt.
func newGCMKeys(masterKey, masterSalt []byte) (*gcmKeys, error) {
	if len(masterSalt) != 12 {
		return nil, errors.New("sfu: an AES-GCM SRTP master salt has 12 bytes")
	}
	key, err := deriveSessionKey(labelRTPKey, masterKey, masterSalt, len(masterKey))
	if err != nil {
		return nil, err
	}
	salt, err := deriveSessionKey(labelRTPSalt, masterKey, masterSalt, 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &gcmKeys{aead: aead}
	copy(k.salt[:], salt)
	return k, nil
}

// deriveSessionKey is SRTP's key derivation with a key derivation rate of
// 0 (RFC 3711 4.3.1 and 4.3.3, and RFC 7714 11 for the 96-bit salt): AES in
// counter mode under the master key, from the block holding the master
// salt with the label at octet 7, counting in the last two octets.
func deriveSessionKey(label byte, masterKey, masterSalt []byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	var in [aes.BlockSize]byte
	copy(in[:], masterSalt)
	in[7] ^= label
	out := make([]byte, (n+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	for i := 0; i*aes.BlockSize < n; i++ {
		binary.BigEndian.PutUint16(in[aes.BlockSize-2:], uint16(i))
		block.Encrypt(out[i*aes.BlockSize:], in[:])
	}
	return out[:n], nil
}

// sealRTP appends to dst the SRTP packet of h and payload, one packet of
// the stream st: the header in clear, then the payload sealed with the
// header as associated data, then the 16-byte tag (RFC 7714 8).
func (k *gcmKeys) sealRTP(dst []byte, h *rtp.Header, payload []byte, st *rtpStream) ([]byte, error) {
	hn := h.MarshalSize()
	start := len(dst)
	dst = slices.Grow(dst, hn+len(payload)+gcmTagBytes)
	if _, err := h.MarshalTo(dst[start : start+hn]); err != nil {
		return nil, err
	}
	// IV = (0x0000 || SSRC || ROC || SEQ) XOR salt (RFC 7714 8.1).
	iv := &st.iv
	*iv = [12]byte{}
	binary.BigEndian.PutUint32(iv[2:], h.SSRC)
	binary.BigEndian.PutUint32(iv[6:], st.next(h.SequenceNumber))
	binary.BigEndian.PutUint16(iv[10:], h.SequenceNumber)
	for i := range iv {
		iv[i] ^= k.salt[i]
	}
	sealed := k.aead.Seal(dst[start+hn:start+hn], iv[:], payload, dst[start:start+hn])
	return dst[:start+hn+len(sealed)], nil
}

// rtpStream is what sealing one SSRC's packets keeps: its rollover counter
// (RFC 3711 3.3.1), how many times the sequence number wrapped, and the
// IV's bytes (here, not on the stack: the AEAD is an interface, and what is
// passed to it escapes). A packet ahead of the highest sent (by less than
// half the sequence space) moves the counter on, and counts a wrap when its
// number is lower; a packet behind it (a late one the munger forwards) is
// sealed with the counter of its own cycle, as the receiver's estimate (RFC
// 3711 3.3.1, Appendix A) will take it. One sender at a time: a slot's,
// under the slot's lock.
type rtpStream struct {
	roc     uint32
	highest uint16 // the highest sequence number sent
	started bool
	iv      [12]byte
}

// next returns the rollover counter to seal seq with.
func (r *rtpStream) next(seq uint16) uint32 {
	if !r.started {
		r.started, r.highest = true, seq
		return r.roc
	}
	if d := int16(seq - r.highest); d > 0 {
		if seq < r.highest {
			r.roc++
		}
		r.highest = seq
		return r.roc
	}
	if seq > r.highest && r.roc > 0 {
		return r.roc - 1 // late, from before the last wrap
	}
	return r.roc
}
