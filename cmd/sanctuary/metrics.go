package main

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// metrics is the server's Prometheus registry. Media counters are read
// from the engine when scraped, so the packet path pays nothing for them.
type metrics struct {
	reg         *prometheus.Registry
	joinTime    prometheus.Histogram
	webhookTime prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		joinTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sanctuary_join_seconds",
			Help:    "Time from websocket open to the participant's PeerConnection connecting.",
			Buckets: []float64{.01, .02, .04, .06, .08, .1, .15, .2, .3, .5, 1, 2, 5},
		}),
		webhookTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sanctuary_webhook_delivery_seconds",
			Help:    "Time from a session event to its webhook delivery's 2xx answer, retries included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 120, 600},
		}),
	}
	m.reg.MustRegister(m.joinTime, m.webhookTime, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeJoin(d time.Duration) { m.joinTime.Observe(d.Seconds()) }

// register adds the gauges and counters read from the hub and the engine.
func (m *metrics) register(e *sfu.Engine, sig *signaling.Server) {
	hub := sig.Hub()
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func(sfu.Stats) uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(e.Stats())) }))
	}
	gauge("sanctuary_sessions", "Sessions kept by the server (live, idle until expiry, or ended and kept for statistics).",
		func() float64 { return float64(hub.Sessions()) })
	gauge("sanctuary_participants", "Participant records over all sessions.",
		func() float64 { return float64(hub.Participants()) })
	gauge("sanctuary_peer_connections", "PeerConnections open now.",
		func() float64 { return float64(e.Stats().Peers) })
	gauge("sanctuary_selection_tickers_running", "Sessions whose speaker selection runs every 50 ms now: a room has more open microphones than slots. The others sleep.",
		func() float64 { return float64(e.Stats().TickersRunning) })
	gauge("sanctuary_direct_peer_connections", "Connected PeerConnections whose audio the SFU seals and sends itself (the direct write path), not through pion's.",
		func() float64 { return float64(e.Stats().DirectPeers) })
	counter("sanctuary_rtcp_sender_reports_total", "RTCP sender reports sent for participants' slots.",
		func(s sfu.Stats) uint64 { return s.ReportsSent })
	counter("sanctuary_rtcp_reception_reports_total", "RTCP reception reports sent on participants' upstreams.",
		func(s sfu.Stats) uint64 { return s.ReceptionReports })
	counter("sanctuary_rtp_packets_received_total", "RTP packets received from participants.",
		func(s sfu.Stats) uint64 { return s.PacketsReceived })
	counter("sanctuary_rtp_bytes_received_total", "RTP payload bytes received from participants.",
		func(s sfu.Stats) uint64 { return s.BytesReceived })
	counter("sanctuary_rtp_packets_forwarded_total", "RTP packets sent to participants' slots.",
		func(s sfu.Stats) uint64 { return s.PacketsForwarded })
	counter("sanctuary_rtp_bytes_forwarded_total", "RTP payload bytes sent to participants' slots.",
		func(s sfu.Stats) uint64 { return s.BytesForwarded })
	counter("sanctuary_rtp_silence_held_total", "Packets of silence (a muted microphone) received and not forwarded: each silent run's first half second is forwarded, the rest held back.",
		func(s sfu.Stats) uint64 { return s.SilenceHeld })
	counter("sanctuary_slot_switches_total", "Times a slot changed source.",
		func(s sfu.Stats) uint64 { return s.SlotSwitches })
	counter("sanctuary_selection_ticks_total", "Times a session re-ranked its speakers by loudness: every 50 ms while a room has more open microphones than slots, about once a second otherwise.",
		func(s sfu.Stats) uint64 { return s.SelectionTicks })
	counter("sanctuary_rtp_stale_drops_total", "Packets dropped because their slot had switched away from them.",
		func(s sfu.Stats) uint64 { return s.StaleDrops })
	counter("sanctuary_rtp_write_errors_total", "Slot writes that failed.",
		func(s sfu.Stats) uint64 { return s.WriteErrors })
	counter("sanctuary_rtp_not_ready_drops_total", "Packets for a slot whose SRTP was not up yet (dropped by pion before DTLS completed).",
		func(s sfu.Stats) uint64 { return s.NotReadyDrops })
	counter("sanctuary_udp_batch_calls_total", "sendmmsg calls on the shared media socket: each sends up to 64 packets of one or more fan-outs.",
		func(s sfu.Stats) uint64 { return s.BatchCalls })
	counter("sanctuary_udp_batch_packets_total", "Packets sent by those sendmmsg calls.",
		func(s sfu.Stats) uint64 { return s.BatchPackets })
	counter("sanctuary_udp_batch_failures_total", "Packets in those sendmmsg calls that the kernel refused.",
		func(s sfu.Stats) uint64 { return s.BatchFailures })
	counter("sanctuary_udp_mux_dropped_total", "Datagrams on the shared media socket dropped because their participant's queue was full (its ICE agent had stopped reading).",
		func(s sfu.Stats) uint64 { return s.MuxDropped })
	counter("sanctuary_udp_mux_unrouted_total", "Datagrams on the shared media socket that belonged to no participant (unknown address, no matching ICE username).",
		func(s sfu.Stats) uint64 { return s.MuxUnrouted })
	signalingCounter := func(name, help string, f func(signaling.Stats) uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(sig.Stats())) }))
	}
	signalingCounter("sanctuary_signaling_messages_total", "Signaling messages written to websockets (each message of a batch counted).",
		func(s signaling.Stats) uint64 { return s.Messages })
	signalingCounter("sanctuary_signaling_frames_total", "Websocket data frames written (a batch of messages is one frame).",
		func(s signaling.Stats) uint64 { return s.Frames })
	signalingCounter("sanctuary_signaling_resyncs_total", "Times a client that fell behind on events was caught up with a snapshot instead of being closed.",
		func(s signaling.Stats) uint64 { return s.Resyncs })
	signalingCounter("sanctuary_signaling_refused_sockets_total", "Websockets refused because their address had too many open or opened them too fast (429).",
		func(s signaling.Stats) uint64 { return s.RefusedSockets })
	counter("sanctuary_ice_restarts_total", "ICE restart offers made at clients' request.",
		func(s sfu.Stats) uint64 { return s.ICERestarts })
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
