package sfu

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
)

// TestFanoutLeavesInBatches forwards one speaker to eight listeners through
// the shared UDP port: every forwarded packet goes out through sendmmsg,
// several per call, and each listener still gets its slot's packets in
// order. Without batching (NoBatchWrites) no sendmmsg is made at all.
func TestFanoutLeavesInBatches(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	for _, batched := range []bool{true, false} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			e, r, closeRouter := newTestRouter(t, Config{LoopbackOnly: true, UDPPort: freeUDPPort(t), NoBatchWrites: !batched}, 1)
			defer closeRouter()
			api := newTestAPI(t)

			speaker, _ := connect(t, api, r, "speaker", 's')
			defer speaker.close()
			all := map[string]string{"speaker": "g"}
			var listeners []*testClient
			for i := range 8 {
				id := fmt.Sprintf("l%d", i)
				l, _ := connect(t, api, r, id, byte('0'+i))
				defer l.close()
				listeners = append(listeners, l)
				all[id] = "g"
			}
			r.SetRouting(1, Routing{Hear: all, Speak: map[string]string{"speaker": "g"}})
			speaker.speak(20)

			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			waitFor(ctx, t, "every listener hears 50 packets", func() bool {
				for _, l := range listeners {
					if l.count('s') < 50 {
						return false
					}
				}
				return true
			})
			st := e.Stats()
			// The session's own counters saw at least what was heard.
			if rs := r.Stats(); rs.PacketsReceived < 50 || rs.PacketsForwarded < 8*50 {
				t.Errorf("router counters %+v, want at least 50 received and 400 forwarded", rs)
			}
			for i, l := range listeners {
				l.mu.Lock()
				if l.jumps != 0 {
					t.Errorf("listener %d: %d sequence jumps on its slot", i, l.jumps)
				}
				l.mu.Unlock()
			}
			if !batched {
				if st.BatchCalls != 0 || st.BatchPackets != 0 {
					t.Errorf("NoBatchWrites: %d sendmmsg calls sent %d packets, want none", st.BatchCalls, st.BatchPackets)
				}
				return
			}
			if st.BatchPackets < st.PacketsForwarded {
				t.Errorf("sendmmsg sent %d packets, fewer than the %d forwarded", st.BatchPackets, st.PacketsForwarded)
			}
			// Eight copies per fan-out, once every listener is connected:
			// on average well over two per call.
			if st.BatchCalls == 0 || st.BatchPackets < 2*st.BatchCalls {
				t.Errorf("%d packets in %d sendmmsg calls, want at least 2 per call", st.BatchPackets, st.BatchCalls)
			}
			if st.BatchFailures != 0 {
				t.Errorf("%d packets refused", st.BatchFailures)
			}
			t.Logf("%d packets forwarded, %d sent in %d sendmmsg calls", st.PacketsForwarded, st.BatchPackets, st.BatchCalls)
		})
	}
}

// TestMsgBatchBuffersFitTheirPackets: a batch's buffers hold what was
// queued, byte for byte, grow to the datagrams they held rather than to
// the largest possible one, and once grown take datagrams of that size
// again without allocating.
func TestMsgBatchBuffersFitTheirPackets(t *testing.T) {
	m := newMsgBatch()
	addr := netip.MustParseAddrPort("127.0.0.1:9")
	small := bytes.Repeat([]byte{1}, 100)
	big := bytes.Repeat([]byte{2}, maxBatchedBytes)
	m.add(small, addr)
	m.add(big, addr)
	if got := m.datagram(0); !bytes.Equal(got, small) {
		t.Errorf("datagram 0 is %d bytes, want the 100 queued", len(got))
	}
	if got := m.datagram(1); !bytes.Equal(got, big) {
		t.Errorf("datagram 1 is %d bytes, want the %d queued", len(got), len(big))
	}
	if c := cap(m.bufs[0]); c > 2*len(small) {
		t.Errorf("the buffer of a 100-byte datagram has room for %d bytes", c)
	}
	for i := 2; i < batchSize; i++ {
		if m.bufs[i] != nil {
			t.Fatalf("buffer %d was allocated before any datagram used it", i)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		m.n = 0
		m.add(small, addr)
		m.add(small, addr)
	})
	if allocs != 0 {
		t.Errorf("queueing into grown buffers allocated %.1f times per run", allocs)
	}
}

// TestBatchSkipsARefusedDatagram: a datagram the kernel refuses (UDP port
// 0 is invalid) is counted and skipped, and the ones around it in the same
// batch still arrive, in order.
func TestBatchSkipsARefusedDatagram(t *testing.T) {
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	b, err := newWriteBatch(send)
	if err != nil {
		t.Fatal(err)
	}
	to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	refused := netip.MustParseAddrPort("127.0.0.1:0")

	b.cork()
	for i, addr := range []netip.AddrPort{to, to, refused, to} {
		if _, err := b.WriteToAddrPort([]byte{byte(i)}, addr); err != nil {
			t.Fatalf("queueing datagram %d: %v", i, err)
		}
	}
	b.uncork()

	if calls, packets, failures := b.calls.Load(), b.packets.Load(), b.failures.Load(); packets != 3 || failures != 1 || calls != 3 {
		t.Errorf("%d calls sent %d datagrams, %d refused; want 3 calls (2, the refusal, 1), 3 sent, 1 refused", calls, packets, failures)
	}
	_ = recv.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 16)
	for _, want := range []byte{0, 1, 3} {
		n, err := recv.Read(buf)
		if err != nil || n != 1 || buf[0] != want {
			t.Fatalf("received %x (%v), want datagram %d", buf[:n], err, want)
		}
	}
}
