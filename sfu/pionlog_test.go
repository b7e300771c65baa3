package sfu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
)

// TestPionLogs: a scope's logger is made once and tags its lines with the
// scope; a warning about a read or write on something closed is debug,
// any other warning stays a warning.
func TestPionLogs(t *testing.T) {
	var out bytes.Buffer
	logs := pionLogs{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})),
		scopes: &sync.Map{}}
	ice := logs.NewLogger("ice")
	if again := logs.NewLogger("ice"); again != ice {
		t.Error("a second logger was made for scope ice")
	}
	ice.Warnf("Failed to read from candidate %s: %v", "udp4 host", io.ErrClosedPipe)
	ice.Warnf("Failed to read from candidate %s: %v", "udp4 host", fmt.Errorf("read: %w", net.ErrClosed))
	ice.Errorf("Failed to write: %v", errors.New("no route to host"))
	logs.NewLogger("dtls").Warn("plain warning")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"level=DEBUG", "level=DEBUG", "level=WARN", "level=WARN"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		if !strings.Contains(l, want[i]) {
			t.Errorf("line %d: %s; want %s", i, l, want[i])
		}
	}
	if !strings.Contains(lines[0], "pion=ice") || !strings.Contains(lines[3], "pion=dtls") {
		t.Errorf("lines without their scope:\n%s", out.String())
	}
}
