// Command lkbots is the load of sanctuary-bots' shapes on a LiveKit
// server, to measure the reference on the same machine with the same
// method (bench.sh in this directory runs it; BENCHMARKS.md has the
// figures). It is its own module, so that LiveKit's SDK is not a
// dependency of Sanctuary.
//
// S speakers and L listeners join one room, a batch at a time, everyone
// subscribed to everyone; once all have joined, the speakers publish an
// Opus track and send a 60-byte packet every 20 ms (as sanctuary-bots
// do). After a settle time it measures over a window the packets all
// participants received (what the server forwarded), the server's CPU
// (utime+stime of /proc/PID/stat) and its RSS growth since before the
// joins, and prints them as JSON.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:7880", "LiveKit's websocket URL")
	key := flag.String("key", "devkey", "API key")
	secret := flag.String("secret", "", "API secret")
	speakers := flag.Int("speakers", 10, "participants that send audio")
	listeners := flag.Int("listeners", 100, "participants that only listen")
	batch := flag.Int("batch", 10, "joins started together")
	settle := flag.Duration("settle", 5*time.Second, "from the speakers' first packets to the window")
	window := flag.Duration("window", 20*time.Second, "measurement window")
	pid := flag.Int("server-pid", 0, "the server's process id")
	flag.Parse()
	if *pid == 0 || *secret == "" {
		log.Fatal("lkbots: -server-pid and -secret are required")
	}

	rss0 := rssKB(*pid)
	n := *speakers + *listeners
	var received, joinErrors atomic.Int64
	rooms := make([]*lksdk.Room, n)
	for b := 0; b < n; b += *batch {
		var wg sync.WaitGroup
		for i := b; i < min(n, b+*batch); i++ {
			wg.Go(func() {
				cb := &lksdk.RoomCallback{ParticipantCallback: lksdk.ParticipantCallback{
					OnTrackSubscribed: func(t *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
						go count(t, &received)
					},
				}}
				r, err := lksdk.ConnectToRoom(*url, lksdk.ConnectInfo{APIKey: *key, APISecret: *secret,
					RoomName: "bench", ParticipantIdentity: "b" + strconv.Itoa(i)}, cb)
				if err != nil {
					log.Printf("lkbots: join %d: %v", i, err)
					joinErrors.Add(1)
					return
				}
				rooms[i] = r
			})
		}
		wg.Wait()
	}

	var tracks []*webrtc.TrackLocalStaticSample
	for i, r := range rooms[:*speakers] {
		if r == nil {
			continue
		}
		tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus,
			ClockRate: 48000, Channels: 2}, "audio", "s"+strconv.Itoa(i))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := r.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{Name: "mic"}); err != nil {
			log.Fatal(err)
		}
		tracks = append(tracks, tr)
	}
	payload := make([]byte, 60) // a CELT-only 20 ms TOC, then filler
	payload[0] = 0xfc
	for i := 1; i < len(payload); i++ {
		payload[i] = byte(i * 37)
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, tr := range tracks {
					_ = tr.WriteSample(media.Sample{Data: payload, Duration: 20 * time.Millisecond})
				}
			}
		}
	}()

	time.Sleep(*settle)
	user1, sys1 := cpuTime(*pid)
	got1, t1 := received.Load(), time.Now()
	time.Sleep(*window)
	user2, sys2 := cpuTime(*pid)
	got2, t2, rss := received.Load(), time.Now(), rssKB(*pid)
	close(stop)
	packets, secs := got2-got1, t2.Sub(t1).Seconds()
	user, sys := user2-user1, sys2-sys1
	out := map[string]any{
		"speakers":                      *speakers,
		"listeners":                     *listeners,
		"join_errors":                   joinErrors.Load(),
		"server_forwarded_pps":          float64(packets) / secs,
		"expected_pps":                  float64(len(tracks)*(n-1)) * 50,
		"server_cpu_us_per_packet":      float64((user + sys).Microseconds()) / float64(max(packets, 1)),
		"server_cpu_pct":                100 * (user + sys).Seconds() / secs,
		"server_user_ms_per_s":          float64(user.Milliseconds()) / secs,
		"server_sys_ms_per_s":           float64(sys.Milliseconds()) / secs,
		"server_rss_kb_per_participant": float64(rss-rss0) / float64(n),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		log.Fatal(err)
	}
	for _, r := range rooms {
		if r != nil {
			r.Disconnect()
		}
	}
}

// count counts the RTP packets of t until it ends.
func count(t *webrtc.TrackRemote, n *atomic.Int64) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
		n.Add(1)
	}
}

// cpuTime is the user and the system CPU of process pid (/proc/PID/stat,
// in clock ticks of 10 ms).
func cpuTime(pid int) (user, sys time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		log.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // f[0] is field 3, the state
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		log.Fatalf("lkbots: /proc/%d/stat: %q", pid, s)
	}
	return time.Duration(ut) * 10 * time.Millisecond, time.Duration(st) * 10 * time.Millisecond
}

// rssKB is process pid's VmRSS.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return v
			}
		}
	}
	log.Fatalf("lkbots: no VmRSS for %d", pid)
	return 0
}
