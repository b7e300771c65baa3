package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The floor sends what it was asked for, every packet reaches its socket,
// and its CPU per packet is a measurement, not zero.
func TestFloorMeasuresSealAndSend(t *testing.T) {
	rep, err := measureFloor(floorConfig{PPS: 2000, Fanout: 20, Sockets: 10, Duration: 500 * time.Millisecond, CPU: -1})
	if err != nil {
		t.Fatal(err)
	}
	// 100 bursts of 20 at most; a busy machine may send fewer, never more.
	if rep.PacketsSent == 0 || rep.PacketsSent > 1000+20 || rep.PacketsSent%20 != 0 {
		t.Errorf("sent %d packets, want whole bursts of 20, at most about 1000", rep.PacketsSent)
	}
	if rep.PacketsReceived != rep.PacketsSent {
		t.Errorf("received %d of %d", rep.PacketsReceived, rep.PacketsSent)
	}
	if rep.CPUUsPerPacket <= 0 {
		t.Errorf("CPU per packet %v, want a positive measurement", rep.CPUUsPerPacket)
	}
	// An Opus packet of the bots, its RTP header with a one-byte
	// extension, and GCM's 16-byte tag.
	if want := 12 + 8 + 67 + 16; rep.PacketBytes != want {
		t.Errorf("packet of %d bytes on the wire, want %d", rep.PacketBytes, want)
	}
}

func TestFloorCommandRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{{"-pps", "0"}, {"-sockets", "0"}, {"-fanout", "0"}, {"-duration", "0s"}, {"-pps", "10", "-fanout", "11"}} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), append([]string{"floor"}, args...), func(string) string { return "" }, &out, &errb); code != 2 {
			t.Errorf("floor %v: exit %d, want 2", args, code)
		}
		if !strings.Contains(errb.String(), "must be") {
			t.Errorf("floor %v: stderr %q, want the bound named", args, errb.String())
		}
	}
}

func TestFloorCommandPrintsJSON(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"floor", "-pps", "1000", "-fanout", "10", "-sockets", "5", "-duration", "200ms", "-json"},
		func(string) string { return "" }, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep floorReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if rep.Sockets != 5 || rep.Fanout != 10 || rep.PacketsSent == 0 {
		t.Errorf("report %+v", rep)
	}
}
