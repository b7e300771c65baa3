// Package redistest starts real redis-server processes for tests, each on
// a free loopback port with no persistence, killed when the test ends.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a real redis-server process this test started on a free
// loopback port, with no persistence: what it holds dies with it.
type Server struct {
	t      testing.TB
	port   int
	cmd    *exec.Cmd  // nil while not running
	waitCh chan error // receives the process's exit
}

// Start starts redis-server on a free loopback port and waits until
// it answers; the test's cleanup kills it. A missing redis-server fails
// the test: `make deps` installs it.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed (%v): run `make deps`, which installs Debian's redis-server", err)
	}
	r := &Server{t: t}
	for attempt := 0; ; attempt++ {
		r.port = freePort(t)
		if err := r.start(); err == nil {
			break
		} else if attempt == 5 {
			t.Fatalf("redis-server did not start: %v", err)
		}
	}
	t.Cleanup(r.Kill)
	return r
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start starts the process on r.port and waits until it answers PING.
func (r *Server) start() error {
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second) // a bound on a broken install, not a measure
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			r.waitCh = exited
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server on port %d exited: %v", r.port, err)
		case <-time.After(10 * time.Millisecond): // polling interval
		}
		if time.Now().After(deadline) {
			r.cmd.Process.Kill() //nolint:errcheck
			<-exited
			return fmt.Errorf("redis-server on port %d: no answer: %v", r.port, err)
		}
	}
}

func (r *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// URL is the server's redis:// URL.
func (r *Server) URL() string { return "redis://" + r.Addr() }

// Client returns a client of the server with one-second timeouts, closed
// at the test's end.
func (r *Server) Client() redis.UniversalClient {
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second})
	r.t.Cleanup(func() { c.Close() })
	return c
}

// Kill ends the process with SIGKILL and waits for it.
func (r *Server) Kill() {
	if r.cmd == nil {
		return
	}
	syscall.Kill(r.cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck // gone already is fine
	<-r.waitCh
	r.cmd = nil
}

// Restart kills the process and starts a new, empty one on the same port.
func (r *Server) Restart() {
	r.t.Helper()
	r.Kill()
	if err := r.start(); err != nil {
		r.t.Fatal(err)
	}
}

// Pause stops (SIGSTOP) or continues (SIGCONT) the process: a Redis that
// accepts connections and never answers.
func (r *Server) Pause(on bool) {
	sig := syscall.SIGCONT
	if on {
		sig = syscall.SIGSTOP
	}
	if err := syscall.Kill(r.cmd.Process.Pid, sig); err != nil {
		r.t.Fatal(err)
	}
}
