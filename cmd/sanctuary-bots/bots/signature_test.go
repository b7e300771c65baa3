package bots

import (
	"errors"
	"testing"
)

func TestSignatureRoundTrip(t *testing.T) {
	for _, s := range []Signature{
		{},
		{RunID: 0xdeadbeef, Source: 7, Counter: 123456, SentAt: 1_700_000_000_123_456_789},
		{RunID: ^uint32(0), Source: ^uint32(0), Counter: ^uint32(0), SentAt: -1},
	} {
		p := s.AppendOpus(nil)
		if len(p) != OpusPacketBytes {
			t.Fatalf("len = %d, want %d", len(p), OpusPacketBytes)
		}
		if p[0] != 0xFB || p[1] != 0x41 || p[2] != SignatureBytes {
			t.Fatalf("header = % x, want fb 41 18", p[:3])
		}
		got, err := ParseSignature(p)
		if err != nil {
			t.Fatalf("parse %+v: %v", s, err)
		}
		if got != s {
			t.Fatalf("round trip: got %+v, want %+v", got, s)
		}
	}
}

func TestSignatureAppendsWithoutAllocating(t *testing.T) {
	buf := make([]byte, 0, OpusPacketBytes)
	s := Signature{RunID: 1, Source: 2, Counter: 3, SentAt: 4}
	if n := testing.AllocsPerRun(100, func() {
		buf = s.AppendOpus(buf[:0])
		if _, err := ParseSignature(buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per packet, want 0", n)
	}
}

// TestSignatureLongPadding builds a packet whose padding length needs
// several bytes (255 = 254 more, continue) and whose signature is followed
// by more padding.
func TestSignatureLongPadding(t *testing.T) {
	s := Signature{RunID: 9, Source: 3, Counter: 77, SentAt: 42}
	for _, pad := range []int{24, 254, 255, 300, 600} {
		p := []byte{0xFB, 0x41}
		p = appendPaddingLength(p, pad)
		p = append(p, opusFrame[:]...)
		sig := s.AppendOpus(nil)[OpusPacketBytes-SignatureBytes:]
		p = append(p, sig...)
		p = append(p, make([]byte, pad-SignatureBytes)...)
		got, err := ParseSignature(p)
		if err != nil || got != s {
			t.Fatalf("pad %d: got %+v, %v", pad, got, err)
		}
	}
}

func TestSignatureErrors(t *testing.T) {
	good := Signature{RunID: 1, Source: 2, Counter: 3, SentAt: 4}.AppendOpus(nil)
	wrongMagic := append([]byte(nil), good...)
	wrongMagic[OpusPacketBytes-SignatureBytes] = 'X'
	code0 := append([]byte(nil), good...)
	code0[0] = 31 << 3 // code 0: one frame, no padding possible
	noPad := append([]byte(nil), good...)
	noPad[1] = 0x01
	for _, tc := range []struct {
		name string
		p    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"toc only", good[:1], ErrTruncated},
		{"no padding length", good[:2], ErrTruncated},
		// One byte short: the padding (counted from the end) no longer
		// starts at the magic.
		{"one byte short", good[:len(good)-1], ErrBadMagic},
		{"shorter than the padding", good[:3+SignatureBytes-1], ErrTruncated},
		{"truncated frame", good[:10], ErrTruncated},
		{"padding shorter than signature", []byte{0xFB, 0x41, 4, 1, 2, 3, 4}, ErrTruncated},
		{"unterminated padding length", []byte{0xFB, 0x41, 255, 255}, ErrTruncated},
		{"wrong magic", wrongMagic, ErrBadMagic},
		{"not code 3", code0, ErrNotCode3},
		{"code 3 without padding", noPad, ErrNoPadding},
	} {
		if _, err := ParseSignature(tc.p); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}
