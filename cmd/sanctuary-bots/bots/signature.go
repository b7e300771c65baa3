package bots

import "encoding/binary"

// Layout of the Opus packets the bots send (RFC 6716, section 3.2.5):
//
//	TOC | frame count byte | padding length | 40-byte frame | padding
//
// The padding, which decoders ignore, starts with the 24-byte signature.
const (
	// opusTOC is config 31 (CELT-only, fullband, 20 ms), mono, code 3.
	opusTOC = 31<<3 | 3
	// opusCountByte is the code 3 frame count byte: CBR, padding flag
	// (0x40) set, M = 1 frame.
	opusCountByte = 0x40 | 1
	// opusPaddingFlag is the padding bit of the frame count byte.
	opusPaddingFlag = 0x40
	// opusFrameBytes is the size of the one CELT frame, in bytes.
	opusFrameBytes = 40
	// SignatureBytes is the size of an encoded signature: magic (4), run id
	// (4), source (4), counter (4), send time (8).
	SignatureBytes = 24
	// signatureMagic starts every signature.
	signatureMagic = "SNCT"
)

// opusFrame is the fixed pseudo-random CELT frame every packet carries; any
// bytes decode. Never written.
var opusFrame = [opusFrameBytes]byte{
	0x5a, 0x1f, 0xc3, 0x77, 0x08, 0xe4, 0x9b, 0x32, 0x6d, 0xa0,
	0x14, 0xbe, 0x41, 0xf9, 0x2c, 0x87, 0xd5, 0x03, 0x6a, 0x98,
	0xe1, 0x4f, 0x25, 0xbc, 0x70, 0x0e, 0x93, 0x5d, 0xca, 0x36,
	0x81, 0xfd, 0x47, 0x1b, 0xa6, 0x62, 0xd8, 0x39, 0xef, 0x0c,
}

// Signature identifies one packet of one bot of one run. It travels in the
// padding of the Opus packet, big-endian.
type Signature struct {
	RunID   uint32 // the run the sending bot belongs to
	Source  uint32 // the sending bot's index
	Counter uint32 // the sender's packet counter, from 0
	SentAt  int64  // send time, Unix nanoseconds
}

// AppendOpus appends to dst a valid 20 ms Opus packet (code 3, one CELT
// frame) whose padding carries s, and returns the extended slice. It does
// not allocate when dst has room for OpusPacketBytes more bytes.
func (s Signature) AppendOpus(dst []byte) []byte {
	dst = append(dst, opusTOC, opusCountByte)
	dst = appendPaddingLength(dst, SignatureBytes)
	dst = append(dst, opusFrame[:]...)
	dst = append(dst, signatureMagic...)
	dst = binary.BigEndian.AppendUint32(dst, s.RunID)
	dst = binary.BigEndian.AppendUint32(dst, s.Source)
	dst = binary.BigEndian.AppendUint32(dst, s.Counter)
	return binary.BigEndian.AppendUint64(dst, uint64(s.SentAt))
}

// OpusPacketBytes is the size of a packet AppendOpus writes.
const OpusPacketBytes = 2 + 1 + opusFrameBytes + SignatureBytes

// appendPaddingLength encodes an Opus padding length: each byte 255 means
// 254 bytes of padding and another length byte follows; the last byte
// (< 255) adds its own value.
func appendPaddingLength(dst []byte, n int) []byte {
	for n >= 255 {
		dst = append(dst, 255)
		n -= 254
	}
	return append(dst, byte(n))
}

// ParseSignature extracts the signature from an Opus packet written by
// AppendOpus (or any code 3 packet whose padding starts with one). It
// never allocates. Errors: ErrTruncated, ErrNotCode3, ErrNoPadding,
// ErrBadMagic.
func ParseSignature(p []byte) (Signature, error) {
	if len(p) < 2 {
		return Signature{}, ErrTruncated
	}
	if p[0]&3 != 3 {
		return Signature{}, ErrNotCode3
	}
	if p[1]&opusPaddingFlag == 0 {
		return Signature{}, ErrNoPadding
	}
	i, pad := 2, 0
	for {
		if i >= len(p) {
			return Signature{}, ErrTruncated
		}
		b := p[i]
		i++
		if b < 255 {
			pad += int(b)
			break
		}
		pad += 254
	}
	if pad < SignatureBytes || pad > len(p)-i {
		return Signature{}, ErrTruncated
	}
	sig := p[len(p)-pad:]
	if string(sig[:4]) != signatureMagic {
		return Signature{}, ErrBadMagic
	}
	return Signature{
		RunID:   binary.BigEndian.Uint32(sig[4:]),
		Source:  binary.BigEndian.Uint32(sig[8:]),
		Counter: binary.BigEndian.Uint32(sig[12:]),
		SentAt:  int64(binary.BigEndian.Uint64(sig[16:])),
	}, nil
}
