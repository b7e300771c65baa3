package bots

import (
	"math"
	"slices"
	"time"
)

// Report summarises a load run. Server figures are present only when
// RunConfig.ServerPID (CPU, RSS) or RunConfig.MetricsURL (forwarded
// packets) was set; CPU per packet needs both.
type Report struct {
	Bots      int `json:"bots"`      // bots the run started
	Speakers  int `json:"speakers"`  // of which speaking
	Muted     int `json:"muted"`     // of which sending silence (Config.Muted)
	Slots     int `json:"slots"`     // K, the fewest slots a bot was given; 0: none joined
	Joined    int `json:"joined"`    // welcomed by the server
	Connected int `json:"connected"` // whose media connected
	Failed    int `json:"failed"`    // not joined, or joined without media

	JoinMsP50       float64 `json:"join_ms_p50"`        // websocket dial → welcome
	JoinMsP99       float64 `json:"join_ms_p99"`        //
	AnswerMsP50     float64 `json:"answer_ms_p50"`      // websocket dial → answer sent
	AnswerMsP99     float64 `json:"answer_ms_p99"`      //
	ICEMsP50        float64 `json:"ice_ms_p50"`         // websocket dial → ICE connected
	ICEMsP99        float64 `json:"ice_ms_p99"`         //
	ConnectMsP50    float64 `json:"connect_ms_p50"`     // websocket dial → PeerConnection connected (DTLS up)
	ConnectMsP99    float64 `json:"connect_ms_p99"`     //
	FirstAudioMsP50 float64 `json:"first_audio_ms_p50"` // websocket dial → first packet heard
	FirstAudioMsP99 float64 `json:"first_audio_ms_p99"` //

	// PacketsSent is the packets the speakers sent within the window;
	// SilentPacketsSent those the muted bots sent (silence, owed to nobody).
	PacketsSent       uint64 `json:"packets_sent"`
	SilentPacketsSent uint64 `json:"silent_packets_sent"`
	// PacketsExpected is Σ over connected listeners of the packets sent
	// within the window that the listener was owed:
	//
	//   - A listener whose audience holds at most K speakers (its slots)
	//     is owed every packet of every one of them: the server must
	//     forward them all.
	//   - A listener whose audience holds more than K speakers is owed the
	//     packets the server put in its slots, and no others (see
	//     slotAccount): within a run of one source in one slot, every packet
	//     from the first received to the last; at a switch, the packets the
	//     slot's sequence numbers skip. A speaker outside the K loudest,
	//     never in a slot, is owed nothing; a gap inside a run is loss.
	//
	// In a breakout run the audiences follow the rooms, and only settled
	// time counts: a listener expects a speaker's packets sent while both
	// were settled in the same room, that is from the server's answer to
	// the command that last put either of them there until 100 ms before
	// the command that next moved either of them was sent (a packet sent
	// just before a move may rightly be dropped when it reaches the server
	// after the re-routing). Moves of other bots do not interrupt a pair's
	// settled time: loss includes any glitch a move causes to bystanders.
	// Within it, the listener is owed every packet of the speaker while its
	// room may have held at most K other speakers, and what its slots
	// carried while the room may have held more (a bot on its way in or out
	// counts in both rooms, from 100 ms before the command was sent until
	// its answer).
	PacketsExpected uint64 `json:"packets_expected"`
	// PacketsReceived is Σ over connected listeners of the packets of
	// PacketsExpected they received. Every packet received from the
	// audience within the window (in a breakout run, within settled time)
	// is one of them.
	PacketsReceived uint64 `json:"packets_received"`
	// LossPct is 100 × (expected − received) / expected.
	LossPct float64 `json:"loss_pct"`

	LatencyMsP50 float64 `json:"latency_ms_p50"` // send → receive, window packets
	LatencyMsP99 float64 `json:"latency_ms_p99"` //

	// Breakouts is the breakout rooms of the run (RunConfig.Breakouts).
	Breakouts int `json:"breakouts,omitempty"`
	// Moves counts the moves the server accepted within the window.
	Moves int `json:"moves,omitempty"`
	// MovesTimed counts the moves into a room with a speaker after which
	// the moved bot heard one of them; MoveMsP50 and MoveMsP99 are over
	// those: the move command sent → the first packet from a speaker of
	// the new room received by the moved bot, recognised by signature.
	MovesTimed int     `json:"moves_timed,omitempty"`
	MoveMsP50  float64 `json:"move_ms_p50,omitempty"`
	MoveMsP99  float64 `json:"move_ms_p99,omitempty"`
	// MovesUnheard counts the moves into a room with a speaker after which
	// the moved bot heard none of them before it was moved again or the
	// run ended. Its target is 0.
	MovesUnheard int `json:"moves_unheard,omitempty"`
	// BreakoutFailures says what went wrong driving the breakouts: a
	// command refused or unanswered, the host missing.
	BreakoutFailures []string `json:"breakout_failures,omitempty"`

	Renegotiations uint64  `json:"renegotiations"`       // offers after the first; target 0
	ForeignPackets uint64  `json:"foreign_packets"`      // leaks; must be 0
	SeqGaps        uint64  `json:"seq_gaps"`             // packets missing within slot streams
	SeqBackwards   uint64  `json:"seq_backwards"`        // packets that did not advance
	SSRCChanges    uint64  `json:"ssrc_changes"`         // slot streams that changed SSRC
	Unrecognised   uint64  `json:"unrecognised_packets"` // packets without a signature
	Replaced       int     `json:"replaced"`             // bots told `replaced`
	DurationS      float64 `json:"duration_s"`           // the measurement window

	ServerCPUUsPerPacket      float64 `json:"server_cpu_us_per_packet,omitempty"`      // Δ(utime+stime) / Δforwarded
	ServerForwardedPPS        float64 `json:"server_forwarded_pps,omitempty"`          // Δforwarded / window
	ServerRSSMB               float64 `json:"server_rss_mb,omitempty"`                 // VmRSS at window end
	ServerRSSKBPerParticipant float64 `json:"server_rss_kb_per_participant,omitempty"` // RSS growth since before the joins / joined
	ServerCPUPct              float64 `json:"server_cpu_pct,omitempty"`                // Δ(utime+stime) / window, % of one core

	// BotsCPUPct is the bots process's own CPU over the window, in % of
	// one core: near 100 × the cores it may use, the load generator, not
	// the server, limited the run.
	BotsCPUPct float64 `json:"bots_cpu_pct,omitempty"`

	// Failures says why bots failed, and what went wrong measuring the
	// server (first maxFailures).
	Failures []string `json:"failures,omitempty"`
}

// maxFailures bounds Report.Failures.
const maxFailures = 20

// Summarize computes the bot figures of a report from every bot's stats
// (one per bot of the run, failed ones included with Joined false) and the
// length of the measurement window. It is a pure function.
func Summarize(stats []Stats, window time.Duration) Report {
	r := Report{Bots: len(stats), DurationS: window.Seconds()}
	pids := participantIndex(stats)
	var joinMs, answerMs, iceMs, connectMs, firstMs []float64
	var latency Histogram
	for i := range stats {
		s := &stats[i]
		if s.Joined {
			r.Joined++
			joinMs = append(joinMs, s.JoinMs)
			if s.Slots > 0 && (r.Slots == 0 || s.Slots < r.Slots) {
				r.Slots = s.Slots
			}
		}
		if s.Joined && s.Connected {
			r.Connected++
		}
		switch {
		case s.Muted:
			r.Muted++
		case s.Sent > 0:
			r.Speakers++
		}
		if s.AnswerMs > 0 {
			answerMs = append(answerMs, s.AnswerMs)
		}
		if s.ICEMs > 0 {
			iceMs = append(iceMs, s.ICEMs)
		}
		if s.ConnectMs > 0 {
			connectMs = append(connectMs, s.ConnectMs)
		}
		if s.FirstAudioMs > 0 {
			firstMs = append(firstMs, s.FirstAudioMs)
		}
		if s.Muted {
			r.SilentPacketsSent += s.SentInWindow
		} else {
			r.PacketsSent += s.SentInWindow
		}
		r.Renegotiations += s.Renegotiations
		r.ForeignPackets += s.Foreign
		r.SeqGaps += s.SeqGaps
		r.SeqBackwards += s.SeqBackwards
		r.SSRCChanges += s.SSRCChanges
		r.Unrecognised += s.Unrecognised
		if s.Replaced {
			r.Replaced++
		}
		if !s.Joined || !s.Connected {
			continue
		}
		latency.Merge(s.Latency)
		exp, got := owedInWindow(s, stats, pids)
		r.PacketsExpected += exp
		r.PacketsReceived += got
	}
	r.Failed = r.Bots - r.Connected
	r.JoinMsP50, r.JoinMsP99 = percentile(joinMs, 0.5), percentile(joinMs, 0.99)
	r.AnswerMsP50, r.AnswerMsP99 = percentile(answerMs, 0.5), percentile(answerMs, 0.99)
	r.ICEMsP50, r.ICEMsP99 = percentile(iceMs, 0.5), percentile(iceMs, 0.99)
	r.ConnectMsP50, r.ConnectMsP99 = percentile(connectMs, 0.5), percentile(connectMs, 0.99)
	r.FirstAudioMsP50, r.FirstAudioMsP99 = percentile(firstMs, 0.5), percentile(firstMs, 0.99)
	r.LatencyMsP50, r.LatencyMsP99 = ms(latency.Quantile(0.5)), ms(latency.Quantile(0.99))
	if r.PacketsExpected > 0 {
		r.LossPct = 100 * (float64(r.PacketsExpected) - float64(r.PacketsReceived)) / float64(r.PacketsExpected)
	}
	return r
}

// owedInWindow returns the packets sent within the window that listener
// s was owed and those of them it received (see Report.PacketsExpected).
func owedInWindow(s *Stats, stats []Stats, pids map[string]int) (expected, received uint64) {
	var speakers []*Stats
	for i := range stats {
		if sp := &stats[i]; sp.Index != s.Index && sp.SentInWindow > 0 && !sp.Muted && hears(s, sp.Index) {
			speakers = append(speakers, sp)
		}
	}
	if s.Slots == 0 || len(speakers) <= s.Slots { // every speaker fits in the slots
		for _, sp := range speakers {
			expected += sp.SentInWindow
			received += s.ReceivedInWindowBySource[sp.Index]
		}
		return expected, received
	}
	acct := slotAccount(s.SlotRecords, pids)
	for _, sp := range speakers {
		if c := acct[sp.Index]; c != nil {
			lo, hi := int64(sp.FirstInWindow), int64(sp.LastInWindow)
			expected += c.owed.count(lo, hi)
			received += c.got.count(lo, hi)
		}
	}
	return expected, received
}

// participantIndex maps the participant id of every bot that has one to
// its index.
func participantIndex(stats []Stats) map[string]int {
	m := make(map[string]int, len(stats))
	for _, s := range stats {
		if s.ParticipantID != "" {
			m[s.ParticipantID] = s.Index
		}
	}
	return m
}

// hears reports whether source src is in the listener's audience.
func hears(s *Stats, src int) bool {
	if s.Audience == nil {
		return src != s.Index
	}
	_, found := slices.BinarySearch(s.Audience, src)
	return found
}

// percentile returns the q-quantile of v by nearest rank, 0 when empty.
// It sorts v.
func percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	rank := int(math.Ceil(q * float64(len(v))))
	return v[min(max(rank, 1), len(v))-1]
}
