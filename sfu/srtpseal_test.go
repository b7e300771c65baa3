package sfu

import (
	"bytes"
	"crypto/rand"
	mrand "math/rand/v2"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// TestSealRTPAsPion: for both AES-GCM profiles, a run of packets across a
// sequence-number wrap, with late, reordered and repeated ones, sealed by
// gcmKeys with the slot's rtpStream, is byte for byte what pion's
// srtp.Context seals from the same master key, and pion's decrypting
// context opens every packet.
func TestSealRTPAsPion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile srtp.ProtectionProfile
		keyLen  int
	}{
		{"AEAD_AES_128_GCM", srtp.ProtectionProfileAeadAes128Gcm, 16},
		{"AEAD_AES_256_GCM", srtp.ProtectionProfileAeadAes256Gcm, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, salt := make([]byte, tc.keyLen), make([]byte, 12)
			_, _ = rand.Read(key)
			_, _ = rand.Read(salt)
			ours, err := newGCMKeys(key, salt)
			if err != nil {
				t.Fatal(err)
			}
			seal, err := srtp.CreateContext(key, salt, tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			open, err := srtp.CreateContext(key, salt, tc.profile)
			if err != nil {
				t.Fatal(err)
			}

			var roc rtpStream
			rng := mrand.New(mrand.NewPCG(1, 2))
			h := rtp.Header{Version: 2, PayloadType: 111, SSRC: 0xdecafbad, Marker: true}
			seq := uint16(65_000)
			var buf []byte
			wraps := 0
			for i := range 3000 {
				// Mostly in order; now and then a packet from up to 5
				// back (late or repeated), as the munger may forward.
				s, repeat := seq, i%7 == 3
				if repeat {
					s = seq - uint16(rng.IntN(6))
				} else {
					seq++
					if seq == 0 {
						wraps++
					}
					s = seq
				}
				h.SequenceNumber, h.Timestamp = s, uint32(s)*960
				h.Marker = i == 0
				payload := make([]byte, 20+rng.IntN(140))
				_, _ = rand.Read(payload)

				b, err := ours.sealRTP(buf[:0], &h, payload, &roc)
				if err != nil {
					t.Fatal(err)
				}
				buf = b
				plain, _ := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
				want, err := seal.EncryptRTP(nil, plain, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, want) {
					t.Fatalf("packet %d (seq %d, rollover %d): sealed\n%x\npion seals\n%x", i, s, roc.roc, b, want)
				}
				opened, err := open.DecryptRTP(nil, b, nil)
				if err != nil && !(repeat && isDuplicate(err)) { // pion drops a packet it opened before
					t.Fatalf("packet %d (seq %d): pion cannot open it: %v", i, s, err)
				}
				if err == nil && !bytes.Equal(opened, plain) {
					t.Fatalf("packet %d: opened %x, want %x", i, opened, plain)
				}
			}
			if wraps != 1 || roc.roc != 1 {
				t.Errorf("%d wraps, rollover counter %d; want 1 and 1", wraps, roc.roc)
			}
		})
	}
}

func isDuplicate(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("duplicated packet"))
}

// TestRolloverCounter: the counter moves on with a wrap, and a late packet
// from before the wrap is sealed with the counter it was sent in.
func TestRolloverCounter(t *testing.T) {
	var r rtpStream
	for _, st := range []struct {
		seq  uint16
		want uint32
	}{
		{65534, 0}, // the first packet: counter 0
		{65535, 0},
		{0, 1},     // wrapped
		{65533, 0}, // late, from before the wrap
		{1, 1},
		{1, 1},     // repeated
		{32768, 1}, // far ahead: the same cycle
		{32770, 1},
		{2, 1},     // late within the cycle
		{40000, 1}, // ahead by less than half
		{7000, 2},  // ahead by less than half, across a wrap
	} {
		if got := r.next(st.seq); got != st.want {
			t.Fatalf("seq %d: rollover counter %d, want %d", st.seq, got, st.want)
		}
	}
}

// TestSealRTPAllocates: sealing into a buffer with room allocates nothing.
func TestSealRTPAllocates(t *testing.T) {
	k, err := newGCMKeys(make([]byte, 32), make([]byte, 12))
	if err != nil {
		t.Fatal(err)
	}
	var r rtpStream
	h := rtp.Header{Version: 2, PayloadType: 111, SSRC: 1}
	payload := make([]byte, 100)
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		h.SequenceNumber++
		buf, _ = k.sealRTP(buf[:0], &h, payload, &r)
	}); n != 0 {
		t.Errorf("%v allocations a packet", n)
	}
}
