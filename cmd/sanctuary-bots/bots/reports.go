package bots

import (
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"

	"github.com/sanctuary-sfu/sanctuary/sfu"
)

// The bots' receiver reports: one a second for each slot a bot hears, as
// pion's receiver-report interceptor sent them, but kept from the bot's
// own reading of each packet (sfu.Reception, the counts the server keeps
// for its own reports) instead of an interceptor on the read path.
//
// At 54,000 packets a second on the bots' one core the interceptor was an
// eighth of their CPU: per packet it parsed the header again, allocated a
// map for its attributes and took its lock. Without it the bots use a
// fifth less of their core, which leaves room for larger sessions (their
// core, not the server, bounds the capacity runs); first audio did not
// move (BENCHMARKS.md, "The bots' lighter read path").

// reportEvery is how often a bot reports on each slot it hears.
const reportEvery = time.Second

// epoch is the origin of the bots' monotonic clock for reception counts.
var epoch = time.Now()

func monoNs(t time.Time) int64 { return t.Sub(epoch).Nanoseconds() }

// receptionLocked returns slot's reception counts, made on first use. b.mu
// held.
func (b *Bot) receptionLocked(slot int) *sfu.Reception {
	for len(b.rx) <= slot {
		b.rx = append(b.rx, nil)
	}
	if b.rx[slot] == nil {
		b.rx[slot] = &sfu.Reception{}
	}
	return b.rx[slot]
}

// readSenderReports reads a slot's RTCP until the receiver ends, noting
// the server's sender reports for the slot's LSR and DLSR.
func (b *Bot) readSenderReports(read func() ([]rtcp.Packet, interceptor.Attributes, error), slot int) {
	for {
		pkts, _, err := read()
		if err != nil {
			return
		}
		if slot < 0 {
			continue
		}
		now := monoNs(time.Now())
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				b.mu.Lock()
				rx := b.receptionLocked(slot)
				b.mu.Unlock()
				rx.OnSenderReport(sr, now)
			}
		}
	}
}

// sendReports sends, every reportEvery until the bot closes, a receiver
// report on each slot that has had a packet, from the SSRC of the bot's
// own sender.
func (b *Bot) sendReports() {
	t := time.NewTicker(reportEvery)
	defer t.Stop()
	for {
		select {
		case <-b.closing:
			return
		case now := <-t.C:
			b.mu.Lock()
			rxs := append([]*sfu.Reception(nil), b.rx...)
			b.mu.Unlock()
			var ssrc uint32
			for _, s := range b.pc.GetSenders() {
				if enc := s.GetParameters().Encodings; len(enc) > 0 {
					ssrc = uint32(enc[0].SSRC)
				}
			}
			for _, rx := range rxs {
				if rx == nil {
					continue
				}
				block, ok := rx.Block(monoNs(now))
				if !ok {
					continue
				}
				if err := b.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: ssrc, Reports: []rtcp.ReceptionReport{block}}}); err == nil {
					b.mu.Lock()
					b.st.receiverReports++
					b.mu.Unlock()
				}
			}
		}
	}
}
