package sfu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/pion/logging"
)

// pionLogs sends pion's logs to slog, with the pion scope ("ice", "dtls",
// "pc", …) as an attribute, instead of pion's default of plain lines on
// standard output. pion's trace, debug and info lines are debug here;
// its errors are warnings: pion reports as errors things a server sees
// every day. A warning whose error is a read or write on something closed
// (io.ErrClosedPipe, net.ErrClosed) is debug too: that is how pion's
// goroutines learn that a peer left or that a candidate was closed
// (Peer.closeUnusedTCP), a few lines per participant otherwise.
type pionLogs struct {
	log    *slog.Logger
	scopes *sync.Map // scope → its pionLogger, made once and shared; nil: a new one each time
}

// NewLogger returns the logger of scope. pion asks for a handful of them
// for every PeerConnection; with scopes set, they are made once.
func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	if f.scopes == nil {
		return pionLogger{log: f.log.With("pion", scope)}
	}
	if l, ok := f.scopes.Load(scope); ok {
		return l.(pionLogger)
	}
	l, _ := f.scopes.LoadOrStore(scope, pionLogger{log: f.log.With("pion", scope)})
	return l.(pionLogger)
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) at(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

func (l pionLogger) atf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(msg string)                  { l.at(slog.LevelDebug, msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.atf(slog.LevelDebug, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.at(slog.LevelDebug, msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.atf(slog.LevelDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.atf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.at(slog.LevelWarn, msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.atf(warnLevel(args), format, args...) }
func (l pionLogger) Error(msg string)                  { l.at(slog.LevelWarn, msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.atf(warnLevel(args), format, args...) }

// warnLevel is the level of a pion warning or error with args: debug when
// one of them is an error from something closed, warn otherwise.
func warnLevel(args []any) slog.Level {
	for _, a := range args {
		if err, ok := a.(error); ok && (errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed)) {
			return slog.LevelDebug
		}
	}
	return slog.LevelWarn
}
