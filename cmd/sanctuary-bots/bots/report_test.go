package bots

import (
	"math"
	"strings"
	"testing"
	"time"
)

func histOf(ds ...time.Duration) *Histogram {
	var h Histogram
	for _, d := range ds {
		h.Record(d)
	}
	return &h
}

func TestSummarize(t *testing.T) {
	// Bots 0 and 1 speak; 2 listens with an audience of {0} only; 3 never
	// joined; 4 joined without media.
	stats := []Stats{
		{Index: 0, Joined: true, Connected: true, Slots: 3, JoinMs: 10, AnswerMs: 15, ICEMs: 25, ConnectMs: 30, FirstAudioMs: 50, Sent: 120, SentInWindow: 100,
			ReceivedInWindowBySource: map[int]uint64{1: 50}, Latency: histOf(time.Millisecond)},
		{Index: 1, Joined: true, Connected: true, Slots: 2, JoinMs: 20, AnswerMs: 22, ICEMs: 35, ConnectMs: 40, FirstAudioMs: 60, Sent: 60, SentInWindow: 50,
			ReceivedInWindowBySource: map[int]uint64{0: 99}, Renegotiations: 1, Latency: histOf(2 * time.Millisecond)},
		{Index: 2, Joined: true, Connected: true, JoinMs: 30, AnswerMs: 33, ICEMs: 44, ConnectMs: 45, FirstAudioMs: 70, Audience: []int{0},
			// 5 from bot 1 are outside the audience: they were foreign, never counted here,
			// but the sum must ignore them even if a caller puts them in.
			ReceivedInWindowBySource: map[int]uint64{0: 98, 1: 5}, Foreign: 3, SeqGaps: 2,
			Latency: histOf(3*time.Millisecond, 4*time.Millisecond)},
		{Index: 3},
		{Index: 4, Joined: true, JoinMs: 40, ReceivedInWindowBySource: map[int]uint64{0: 7}},
	}
	r := Summarize(stats, 2*time.Second)
	want := Report{
		Bots: 5, Speakers: 2, Slots: 2, Joined: 4, Connected: 3, Failed: 2,
		JoinMsP50: 20, JoinMsP99: 40, AnswerMsP50: 22, AnswerMsP99: 33, ICEMsP50: 35, ICEMsP99: 44, ConnectMsP50: 40, ConnectMsP99: 45, FirstAudioMsP50: 60, FirstAudioMsP99: 70,
		PacketsSent:     150,
		PacketsExpected: 50 + 100 + 100, // 0 hears 1; 1 hears 0; 2 hears 0 only; 4 has no media
		PacketsReceived: 50 + 99 + 98,
		Renegotiations:  1, ForeignPackets: 3, SeqGaps: 2, DurationS: 2,
	}
	want.LossPct = 100 * 3.0 / 250
	got := r
	got.LatencyMsP50, got.LatencyMsP99 = 0, 0
	if math.Abs(got.LossPct-want.LossPct) < 1e-9 {
		got.LossPct = want.LossPct
	}
	if got.Bots != want.Bots || got.Speakers != want.Speakers || got.Slots != want.Slots || got.Joined != want.Joined ||
		got.Connected != want.Connected || got.Failed != want.Failed ||
		got.JoinMsP50 != want.JoinMsP50 || got.JoinMsP99 != want.JoinMsP99 ||
		got.AnswerMsP50 != want.AnswerMsP50 || got.AnswerMsP99 != want.AnswerMsP99 ||
		got.ICEMsP50 != want.ICEMsP50 || got.ICEMsP99 != want.ICEMsP99 ||
		got.ConnectMsP50 != want.ConnectMsP50 || got.ConnectMsP99 != want.ConnectMsP99 ||
		got.FirstAudioMsP50 != want.FirstAudioMsP50 || got.FirstAudioMsP99 != want.FirstAudioMsP99 ||
		got.PacketsSent != want.PacketsSent || got.PacketsExpected != want.PacketsExpected ||
		got.PacketsReceived != want.PacketsReceived || got.LossPct != want.LossPct ||
		got.Renegotiations != want.Renegotiations || got.ForeignPackets != want.ForeignPackets ||
		got.SeqGaps != want.SeqGaps || got.DurationS != want.DurationS {
		t.Fatalf("Summarize:\n got %+v\nwant %+v", got, want)
	}
	// Latency of connected bots: 1, 2, 3, 4 ms → p50 2 ms, p99 4 ms (bucket bounds).
	if r.LatencyMsP50 < 2 || r.LatencyMsP50 > 2.1 || r.LatencyMsP99 < 4 || r.LatencyMsP99 > 4.1 {
		t.Fatalf("latency p50 %.2f p99 %.2f", r.LatencyMsP50, r.LatencyMsP99)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	r := Summarize(nil, time.Second)
	if r.LossPct != 0 || r.Bots != 0 || r.Failed != 0 || r.LatencyMsP50 != 0 {
		t.Fatalf("%+v", r)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct{ q, want float64 }{{0.5, 3}, {0.99, 5}, {0.2, 1}, {0.21, 2}, {1, 5}} {
		if got := percentile(v, tc.q); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// Field 2 holds spaces and a ')'; utime 1234, stime 56.
	line := "4242 (sanc tuary) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 12 0 100 2000000 500\n"
	got, err := parseProcStat([]byte(line))
	if err != nil || got != 1290 {
		t.Fatalf("got %d, %v; want 1290", got, err)
	}
	if _, err := parseProcStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Fatal("short line parsed")
	}
}

func TestParseVmRSS(t *testing.T) {
	st := "Name:\tsanctuary\nVmPeak:\t  900 kB\nVmRSS:\t   51200 kB\nThreads:\t9\n"
	if got, err := parseVmRSS([]byte(st)); err != nil || got != 51200 {
		t.Fatalf("got %d, %v", got, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("missing VmRSS parsed")
	}
}

func TestParsePromCounter(t *testing.T) {
	page := `# HELP sanctuary_rtp_packets_forwarded_total RTP packets sent to subscribers.
# TYPE sanctuary_rtp_packets_forwarded_total counter
sanctuary_rtp_packets_forwarded_total{session="a",note="x}y"} 100
sanctuary_rtp_packets_forwarded_total{session="b"} 2.5e3 1700000000000
sanctuary_rtp_packets_forwarded_total_created 1.7e9
sanctuary_rtp_packets_forwarded_totalx 9
sanctuary_rtp_packets_forwarded_total
other_metric 7
`
	got, err := parsePromCounter(strings.NewReader(page), forwardedMetric)
	if err != nil || got != 2600 {
		t.Fatalf("got %v, %v; want 2600", got, err)
	}
	got, err = parsePromCounter(strings.NewReader("sanctuary_rtp_packets_forwarded_total 42\n"), forwardedMetric)
	if err != nil || got != 42 {
		t.Fatalf("unlabelled: got %v, %v", got, err)
	}
	if _, err := parsePromCounter(strings.NewReader("other 1\n"), forwardedMetric); err == nil {
		t.Fatal("missing metric parsed")
	}
}

func TestServerFigures(t *testing.T) {
	base := serverSample{rssKB: 10_000, procOK: true}
	a := serverSample{cpu: time.Second, rssKB: 20_000, forwarded: 1000, procOK: true, metricsOK: true}
	z := serverSample{cpu: 3 * time.Second, rssKB: 30_000, forwarded: 11_000, procOK: true, metricsOK: true}
	var r Report
	serverFigures(&r, base, a, z, 5*time.Second, 10)
	if r.ServerCPUUsPerPacket != 200 || r.ServerForwardedPPS != 2000 || r.ServerCPUPct != 40 ||
		r.ServerRSSMB != 30_000.0/1024 || r.ServerRSSKBPerParticipant != 2000 {
		t.Fatalf("%+v", r)
	}
	var none Report
	serverFigures(&none, serverSample{}, serverSample{}, serverSample{}, time.Second, 3)
	if none.ServerCPUUsPerPacket+none.ServerForwardedPPS+none.ServerRSSMB+none.ServerRSSKBPerParticipant+
		none.ServerCPUPct != 0 {
		t.Fatalf("figures without samples: %+v", none)
	}
}
