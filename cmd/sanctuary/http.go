package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Defaults of the HTTP server's limits. They bound how long one client can
// hold a connection (a descriptor and a goroutine) without finishing a
// request. The websocket /ws is not bound by them once upgraded: gorilla's
// Upgrade clears the connection's deadlines and signaling sets its own.
const (
	// defaultReadHeaderTimeout: a request's headers are a few hundred
	// bytes, sent at once by any real client.
	defaultReadHeaderTimeout = 10 * time.Second
	// defaultReadTimeout covers a whole request, headers and body. The
	// largest body served is 64 KiB (a REST command), which arrives in
	// 16 s even at 4 KiB/s.
	defaultReadTimeout = 30 * time.Second
	// defaultWriteTimeout runs from the end of a request's headers to the
	// end of its answer, so it includes reading the body: not shorter than
	// the read timeout. Answers are small (JSON, the web client's files, a
	// metrics scrape).
	defaultWriteTimeout = 30 * time.Second
	// defaultIdleTimeout keeps an idle keep-alive connection a little
	// longer than the 60 s of common reverse proxies and load balancers
	// (nginx upstream keep-alive, AWS ALB), so that they close their pooled
	// connections first and never send on one the server has just closed.
	defaultIdleTimeout = 65 * time.Second
	// defaultMaxHeaderBytes: a bearer JWT and a browser's cookies fit many
	// times over; net/http's own default is 1 MiB.
	defaultMaxHeaderBytes = 32 << 10
)

// maxRequestBodyBytes bounds every request body read by any handler. Each
// endpoint has its own, smaller limit (REST commands 64 KiB, the Agora token
// 4 KiB); this one catches a handler that would forget it.
const maxRequestBodyBytes = 1 << 20

// httpLimits are the HTTP server's limits (see the defaults above).
type httpLimits struct {
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    int
}

// flags defines the limits' flags on fs, with their defaults.
func (l *httpLimits) flags(fs *flag.FlagSet) {
	fs.DurationVar(&l.readHeaderTimeout, "http-read-header-timeout", defaultReadHeaderTimeout,
		"time to read a request's headers")
	fs.DurationVar(&l.readTimeout, "http-read-timeout", defaultReadTimeout,
		"time to read a whole request, body included (not /ws once upgraded)")
	fs.DurationVar(&l.writeTimeout, "http-write-timeout", defaultWriteTimeout,
		"time from the end of a request's headers to the end of its answer (not /ws once upgraded)")
	fs.DurationVar(&l.idleTimeout, "http-idle-timeout", defaultIdleTimeout,
		"how long an idle keep-alive connection is kept open")
	fs.IntVar(&l.maxHeaderBytes, "http-max-header-bytes", defaultMaxHeaderBytes,
		"largest request line and headers, in bytes")
}

// check refuses a limit that is not positive: net/http reads 0 as "none" or
// "another limit's value", which is never what an operator means here.
func (l httpLimits) check() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"-http-read-header-timeout", l.readHeaderTimeout},
		{"-http-read-timeout", l.readTimeout},
		{"-http-write-timeout", l.writeTimeout},
		{"-http-idle-timeout", l.idleTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s must be positive, got %v", d.name, d.v)
		}
	}
	if l.maxHeaderBytes <= 0 {
		return errors.New("-http-max-header-bytes must be positive")
	}
	return nil
}

// server returns an HTTP server for h with these limits, whose own errors
// (accept failures, malformed requests) go to log.
func (l httpLimits) server(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           limitBodies(h),
		ReadHeaderTimeout: l.readHeaderTimeout,
		ReadTimeout:       l.readTimeout,
		WriteTimeout:      l.writeTimeout,
		IdleTimeout:       l.idleTimeout,
		MaxHeaderBytes:    l.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// limitBodies bounds the body of every request to maxRequestBodyBytes. It
// is the outermost handler, so that net/http sees an overflow and closes
// the connection after the answer.
func limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBodyBytes)
		h.ServeHTTP(w, r)
	})
}

// tlsConfig loads -tls-cert and -tls-key, or returns nil when the server
// speaks plain HTTP (behind a TLS-terminating proxy, or on localhost, where
// browsers allow the microphone without TLS).
func (c config) tlsConfig() (*tls.Config, error) {
	if c.tlsCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert, -tls-key: %w", err)
	}
	// HTTP/1.1 only: the websocket upgrade needs it, and nothing else
	// served here gains from HTTP/2.
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"}}, nil
}
