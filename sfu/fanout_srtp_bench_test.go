package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// BenchmarkFanoutSRTP forwards one packet to N subscribers through the
// whole real path: the slot's munger, pion's interceptors and SRTP
// (AES-GCM), its ICE UDP mux, and the kernel, to real pion clients on
// loopback. One op is one fan-out of one packet; ns/packet and
// cpu-ns/packet (the process's user+sys CPU, the clients' decryption
// included, ÷ packets) divide by N.
//
// Modes: "pion/…" writes through pion's write path (NoDirectWrites),
// "direct/…" seals and sends in the slot (direct.go); "sendto" is one
// sendto per packet (NoBatchWrites, one core), "sendmmsg" batches each
// fan-out (batch.go), "sendmmsg+cores" also splits fan-outs of 128 or more
// over the cores (fanout.go).
//
// The clients read what they can: at b.N in a tight loop the sender
// outruns them and the kernel drops the excess at their sockets, as it
// would for any receiver that falls behind.
func BenchmarkFanoutSRTP(b *testing.B) {
	for _, n := range []int{100, 300} {
		for _, mode := range []string{"pion/sendto", "pion/sendmmsg", "direct/sendto", "direct/sendmmsg", "direct/sendmmsg+cores"} {
			b.Run(fmt.Sprintf("subscribers=%d/%s", n, mode), func(b *testing.B) {
				cfg := Config{LoopbackOnly: true, UDPPort: freeUDPPort(b), FanoutCores: 1,
					Logger: slog.New(slog.DiscardHandler)}
				path, writes, _ := strings.Cut(mode, "/")
				cfg.NoDirectWrites = path == "pion"
				switch writes {
				case "sendto":
					cfg.NoBatchWrites = true
				case "sendmmsg+cores":
					cfg.FanoutCores = 0 // GOMAXPROCS
				}
				benchFanout(b, cfg, n)
			})
		}
	}
}

func benchFanout(b *testing.B, cfg Config, subscribers int) {
	e, err := NewEngine(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	r := e.NewRouter(1)
	defer r.Close()
	// The speaker needs no client: its packets are handed to the fan-out
	// directly, as its reader would.
	speaker, err := r.AddPeer("speaker", PeerHandlers{})
	if err != nil {
		b.Fatal(err)
	}
	api := newBareTestAPI(b)
	hear := map[string]string{}
	clients := make([]*testClient, 0, subscribers)
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	for i := range subscribers {
		id := fmt.Sprintf("sub%d", i)
		c, _ := connect(b, api, r, id, 0) // tag 0: a draining client (testClient.read)
		clients = append(clients, c)
		hear[id] = "g"
	}
	r.SetRouting(1, Routing{Hear: hear, Speak: map[string]string{"speaker": "g"}})
	src := speaker.src
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: 42}, Payload: make([]byte, 67)}
	pkt.Payload[0] = 's'

	// Wait until every subscriber's SRTP is up: a fan-out then writes N.
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	waitFor(ctx, b, "every subscriber connected", func() bool {
		for _, c := range clients {
			if c.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
				return false
			}
		}
		pkt.SequenceNumber++
		return e.fanout(src, pkt, r.clock.now()) == uint64(subscribers)
	})

	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	sent := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pkt.SequenceNumber++
		pkt.Timestamp += 960
		sent += e.fanout(src, pkt, r.clock.now())
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if sent == 0 {
		b.Fatal("nothing was forwarded")
	}
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sent), "ns/packet")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(sent), "cpu-ns/packet")
}
