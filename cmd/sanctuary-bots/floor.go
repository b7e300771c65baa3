package main

// The floor: what forwarding one audio packet cannot cost less than on this
// machine, measured the way the server's own cost is measured, so that the
// bench can quote the server's CPU per packet as a ratio to it. A figure in
// µs moves with the machine and its load; the ratio, measured in the same
// run, moves much less.
//
// The floor sends packets the size of the bots' Opus packets, each sealed
// with SRTP AES-256-GCM (what pion negotiates with pion) and written with
// one sendto to a loopback socket, in bursts the size of the server's
// fan-out at the server's rate. Its CPU is the sender thread's own
// (CLOCK_THREAD_CPUTIME_ID), which on loopback includes the kernel's
// delivery to the receiving socket, as the server's does.

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"golang.org/x/sys/unix"

	"github.com/sanctuary-sfu/sanctuary/cmd/sanctuary-bots/bots"
)

// floorConfig is what `sanctuary-bots floor` measures.
type floorConfig struct {
	PPS      int           // packets per second sent, over every destination
	Fanout   int           // packets per burst: one upstream packet's copies
	Sockets  int           // destination sockets (the listeners)
	Duration time.Duration // how long to send
	CPU      int           // pin the sender thread to this CPU; -1: do not pin
}

// floorReport is its result.
type floorReport struct {
	PPS             int     `json:"pps"`
	Fanout          int     `json:"fanout"`
	Sockets         int     `json:"sockets"`
	Seconds         float64 `json:"seconds"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	SentPPS         float64 `json:"sent_pps"`
	CPUPct          float64 `json:"cpu_pct"`           // the sender thread's CPU, % of one core
	CPUUsPerPacket  float64 `json:"cpu_us_per_packet"` // the floor
	PacketBytes     int     `json:"packet_bytes"`      // sealed, on the wire (UDP payload)
}

// runFloor is `sanctuary-bots floor`: parse, measure, print.
func runFloor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sanctuary-bots floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c floorConfig
	var jsonOut bool
	fs.IntVar(&c.PPS, "pps", 50000, "packets per second, over every destination")
	fs.IntVar(&c.Fanout, "fanout", 100, "packets per burst (the copies of one upstream packet)")
	fs.IntVar(&c.Sockets, "sockets", 110, "destination sockets on 127.0.0.1")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to send")
	fs.IntVar(&c.CPU, "cpu", -1, "pin the sender thread to this CPU (-1: do not pin)")
	fs.BoolVar(&jsonOut, "json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rep, err := measureFloor(c)
	if err != nil {
		fmt.Fprintln(stderr, "sanctuary-bots floor:", err)
		return 2
	}
	if jsonOut {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			fmt.Fprintln(stderr, "sanctuary-bots floor:", err)
			return 2
		}
		return 0
	}
	fmt.Fprintf(stdout, "floor: %.2f µs of CPU per packet (%d-byte SRTP packets, seal + sendto), %.0f pkt/s in bursts of %d to %d sockets, sender at %.0f%% of a core; %d of %d received\n",
		rep.CPUUsPerPacket, rep.PacketBytes, rep.SentPPS, rep.Fanout, rep.Sockets, rep.CPUPct, rep.PacketsReceived, rep.PacketsSent)
	return 0
}

// Bounds: the floor is a measurement of this machine, not a load test.
const (
	maxFloorPPS      = 2_000_000
	maxFloorSockets  = 10_000
	maxFloorDuration = 10 * time.Minute
)

// measureFloor sends for c.Duration and reports the sender's CPU per packet.
func measureFloor(c floorConfig) (floorReport, error) {
	switch {
	case c.PPS <= 0 || c.PPS > maxFloorPPS:
		return floorReport{}, fmt.Errorf("-pps must be 1..%d, got %d", maxFloorPPS, c.PPS)
	case c.Sockets <= 0 || c.Sockets > maxFloorSockets:
		return floorReport{}, fmt.Errorf("-sockets must be 1..%d, got %d", maxFloorSockets, c.Sockets)
	case c.Fanout <= 0 || c.Fanout > c.PPS:
		return floorReport{}, fmt.Errorf("-fanout must be 1..pps, got %d", c.Fanout)
	case c.Duration <= 0 || c.Duration > maxFloorDuration:
		return floorReport{}, fmt.Errorf("-duration must be in (0, %s], got %s", maxFloorDuration, c.Duration)
	}
	sinks, err := newFloorSinks(c.Sockets)
	if err != nil {
		return floorReport{}, err
	}
	defer sinks.close()

	out, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return floorReport{}, err
	}
	defer out.Close()
	streams, err := newFloorStreams(c.Sockets)
	if err != nil {
		return floorReport{}, err
	}

	type result struct {
		sent  uint64
		cpu   time.Duration
		wall  time.Duration
		bytes int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		// One thread, measured by its own CPU clock, like a forwarding
		// goroutine of the server (which is measured with everything else).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if c.CPU >= 0 {
			var set unix.CPUSet
			set.Set(c.CPU)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				done <- result{err: fmt.Errorf("pin the sender to CPU %d: %w", c.CPU, err)}
				return
			}
		}
		r := result{}
		cpu0, err := threadCPU()
		if err != nil {
			done <- result{err: err}
			return
		}
		burstEvery := time.Duration(float64(time.Second) * float64(c.Fanout) / float64(c.PPS))
		start := time.Now()
		next := start
		wire := make([]byte, 0, 1500)
		dest := 0
		for time.Since(start) < c.Duration {
			for range c.Fanout {
				s := &streams[dest]
				s.hdr.SequenceNumber++
				s.hdr.Timestamp += 960
				wire, err = s.ctx.EncryptRTP(wire[:0], s.plain(), &s.hdr)
				if err != nil {
					r.err = err
					break
				}
				if _, err := out.WriteToUDPAddrPort(wire, sinks.addrs[dest]); err != nil {
					r.err = err
					break
				}
				r.sent++
				r.bytes = len(wire)
				dest = (dest + 1) % len(streams)
			}
			if r.err != nil {
				break
			}
			next = next.Add(burstEvery)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
		r.wall = time.Since(start)
		cpu1, err := threadCPU()
		if err != nil && r.err == nil {
			r.err = err
		}
		r.cpu = cpu1 - cpu0
		done <- r
	}()
	r := <-done
	if r.err != nil {
		return floorReport{}, r.err
	}
	received := sinks.waitQuiet(r.sent)
	return floorReport{
		PPS: c.PPS, Fanout: c.Fanout, Sockets: c.Sockets,
		Seconds:         r.wall.Seconds(),
		PacketsSent:     r.sent,
		PacketsReceived: received,
		SentPPS:         float64(r.sent) / r.wall.Seconds(),
		CPUPct:          100 * r.cpu.Seconds() / r.wall.Seconds(),
		CPUUsPerPacket:  float64(r.cpu.Microseconds()) / float64(max(r.sent, 1)),
		PacketBytes:     r.bytes,
	}, nil
}

// threadCPU is the calling thread's CPU time, user and system.
func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("thread CPU clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// floorStream is one destination's SRTP stream: its own context and
// header, as each subscriber's slot has in the server.
type floorStream struct {
	ctx     *srtp.Context
	hdr     rtp.Header
	payload []byte
	buf     []byte
}

// plain marshals the stream's next packet: the header with an RFC 6464
// audio level extension, and an Opus-sized payload.
func (s *floorStream) plain() []byte {
	n, _ := s.hdr.MarshalTo(s.buf)
	return append(s.buf[:n], s.payload...)
}

func newFloorStreams(n int) ([]floorStream, error) {
	streams := make([]floorStream, n)
	key := make([]byte, 32+12) // AES-256-GCM: 32-byte master key, 12-byte salt
	for i := range streams {
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		ctx, err := srtp.CreateContext(key[:32], key[32:], srtp.ProtectionProfileAeadAes256Gcm)
		if err != nil {
			return nil, fmt.Errorf("srtp context: %w", err)
		}
		s := &streams[i]
		s.ctx = ctx
		s.hdr = rtp.Header{Version: 2, PayloadType: 111, SSRC: uint32(1000 + i)}
		if err := s.hdr.SetExtension(1, []byte{0x80 | 30}); err != nil {
			return nil, err
		}
		s.payload = make([]byte, bots.OpusPacketBytes)
		s.buf = make([]byte, 1500)
	}
	return streams, nil
}

// floorSinks are the destination sockets, each drained by a goroutine.
type floorSinks struct {
	conns    []*net.UDPConn
	addrs    []netip.AddrPort
	received atomic.Uint64
	wg       sync.WaitGroup
}

func newFloorSinks(n int) (*floorSinks, error) {
	s := &floorSinks{}
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			s.close()
			return nil, err
		}
		s.conns = append(s.conns, c)
		s.addrs = append(s.addrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				s.received.Add(1)
			}
		}()
	}
	return s, nil
}

// waitQuiet waits until every packet sent was received, or none arrived
// for 200 ms (a full socket buffer drops), and returns the count.
func (s *floorSinks) waitQuiet(sent uint64) uint64 {
	last, quietSince := s.received.Load(), time.Now()
	for last < sent && time.Since(quietSince) < 200*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
		if n := s.received.Load(); n != last {
			last, quietSince = n, time.Now()
		}
	}
	return last
}

func (s *floorSinks) close() {
	for _, c := range s.conns {
		c.Close()
	}
	s.wg.Wait()
}
