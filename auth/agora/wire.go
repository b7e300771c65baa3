package agora

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// packer appends the little-endian wire encoding shared by both formats.
// Callers check lengths with checkLen first; packer assumes they fit.
type packer struct {
	buf []byte
}

func (p *packer) u16(v uint16) { p.buf = binary.LittleEndian.AppendUint16(p.buf, v) }
func (p *packer) u32(v uint32) { p.buf = binary.LittleEndian.AppendUint32(p.buf, v) }

// str appends a u16 length and the bytes of s.
func (p *packer) str(s []byte) {
	p.u16(uint16(len(s)))
	p.buf = append(p.buf, s...)
}

// privileges appends a u16 count and the (u16, u32) pairs sorted by key.
func (p *packer) privileges(m map[Privilege]uint32) {
	keys := make([]Privilege, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	p.u16(uint16(len(keys)))
	for _, k := range keys {
		p.u16(uint16(k))
		p.u32(m[k])
	}
}

// checkLen reports an ErrBadOptions if n does not fit a u16 length or count.
func checkLen(what string, n int) error {
	if n > math.MaxUint16 {
		return fmt.Errorf("%w: %s too long (%d > %d)", ErrBadOptions, what, n, math.MaxUint16)
	}
	return nil
}

// reader decodes the wire encoding. The first failure sticks: later reads
// return zero values and err keeps the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// take returns the next n bytes, or nil after a failure.
func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("%s: need %d bytes, have %d", what, n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u16(what string) uint16 {
	if b := r.take(2, what); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// str reads a u16 length and that many bytes.
func (r *reader) str(what string) []byte {
	n := r.u16(what + " length")
	return r.take(int(n), what)
}

// privileges reads a privilege map; a key that repeats is malformed.
func (r *reader) privileges() map[Privilege]uint32 {
	n := r.u16("privilege count")
	m := make(map[Privilege]uint32, min(int(n), len(r.b)/6))
	for range n {
		k := Privilege(r.u16("privilege"))
		v := r.u32("privilege expiry")
		if r.err != nil {
			return nil
		}
		if _, dup := m[k]; dup {
			r.fail("privilege %d repeated", k)
			return nil
		}
		m[k] = v
	}
	return m
}

// end records an error if bytes remain; what names the structure.
func (r *reader) end(what string) {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d unexpected bytes after %s", len(r.b), what)
	}
}
