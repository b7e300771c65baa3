package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sanctuary-sfu/sanctuary/rooms"
)

// Defaults of Config's zero fields.
const (
	DefaultQueue      = 1024             // deliveries waiting per endpoint
	DefaultRetryFor   = 10 * time.Minute // how long one delivery is retried
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = time.Minute
	DefaultTimeout    = 10 * time.Second // one attempt
)

// Config configures a Dispatcher. URLs and Secret are required.
type Config struct {
	URLs   []string // http:// or https://; each gets every event
	Secret []byte   // HMAC-SHA256 key of SignatureHeader
	// Queue bounds the deliveries waiting for each endpoint (and the
	// events waiting to be encoded); beyond it new ones are dropped and
	// counted in Stats.Dropped.
	Queue int
	// RetryFor bounds how long a delivery is retried after its first
	// attempt; then it is given up (Stats.Failed). Attempts are spaced by
	// an exponential backoff from MinBackoff, doubling up to MaxBackoff.
	RetryFor   time.Duration
	MinBackoff time.Duration
	MaxBackoff time.Duration
	Timeout    time.Duration // one attempt, answer included
	// SessionStats, when set, gives session.ended its statistics. It is
	// called from the Dispatcher's own goroutine, never from OnEvent.
	SessionStats func(session string) (rooms.SessionStats, error)
	// OnDelivered, when set, is given for every delivery acknowledged with
	// a 2xx the time from the event to that answer.
	OnDelivered func(time.Duration)
	Client      *http.Client // nil: a client of its own, no redirects followed
	Logger      *slog.Logger
}

// Stats are the Dispatcher's cumulative counters. A delivery is one event
// to one endpoint.
type Stats struct {
	Events    uint64 // webhook events made from session events
	Delivered uint64 // deliveries acknowledged with a 2xx
	Retries   uint64 // attempts after a delivery's first
	Failed    uint64 // deliveries given up after RetryFor (or at Close)
	Dropped   uint64 // deliveries dropped because a queue was full
	Queued    int    // deliveries waiting now, over all endpoints
}

// Dispatcher delivers webhook events. Create it with New; feed it with
// OnEvent; stop it with Close.
type Dispatcher struct {
	cfg       Config
	log       *slog.Logger
	client    *http.Client
	intake    chan Payload
	endpoints []*endpoint
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	events, delivered, retries, failed, dropped atomic.Uint64
}

type endpoint struct {
	url   string
	queue chan delivery
}

type delivery struct {
	id, typ string
	at      time.Time // the event's time
	body    []byte
	sig     string
}

// New checks cfg and starts a Dispatcher's goroutines.
func New(cfg Config) (*Dispatcher, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("webhook: no URL")
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("webhook: a secret is required to sign deliveries")
	}
	for _, u := range cfg.URLs {
		if err := CheckURL(u); err != nil {
			return nil, err
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RetryFor, DefaultRetryFor)
	def(&cfg.MinBackoff, DefaultMinBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	def(&cfg.Timeout, DefaultTimeout)
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{cfg: cfg, log: cfg.Logger, client: client, intake: make(chan Payload, cfg.Queue),
		ctx: ctx, cancel: cancel}
	for _, u := range cfg.URLs {
		e := &endpoint{url: u, queue: make(chan delivery, cfg.Queue)}
		d.endpoints = append(d.endpoints, e)
		d.wg.Add(1)
		go d.send(e)
	}
	d.wg.Add(1)
	go d.encode()
	return d, nil
}

// CheckURL accepts an absolute http:// or https:// URL.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook: %q is not an http:// or https:// URL", s)
	}
	return nil
}

// OnEvent takes one session event (a rooms.Options.OnEvent): it maps it to
// webhook events and queues them without blocking. It is cheap and safe to
// call under the session's lock.
func (d *Dispatcher) OnEvent(ev rooms.Event) {
	now := time.Now().UTC()
	for _, p := range payloads(ev) {
		p.ID, p.Time = newID(), now
		d.enqueue(p)
	}
}

// enqueue hands p to the encoder without blocking; a full intake drops it
// (counted, and logged at the 1st, 2nd, 4th… drop).
func (d *Dispatcher) enqueue(p Payload) {
	select {
	case d.intake <- p:
		d.events.Add(1)
	default:
		if n := d.dropped.Add(uint64(len(d.endpoints))); n&(n-1) == 0 {
			d.log.Warn("webhook intake full: event dropped", "id", p.ID, "type", p.Type, "dropped", n)
		}
	}
}

// ReasonIdle is the Reason of a session.ended for a session that nobody
// ended, deleted after nobody had been in it for the idle time.
const ReasonIdle = "idle"

// OnExpire delivers session.ended (Reason "idle", with st) for a session
// deleted while idle: a rooms.Options.OnExpire.
func (d *Dispatcher) OnExpire(st rooms.SessionStats) {
	d.enqueue(Payload{ID: newID(), Time: time.Now().UTC(), Type: TypeSessionEnded, Session: st.Session,
		Version: st.Version, Reason: ReasonIdle, Stats: toStats(st)})
}

// Stats returns the counters since New.
func (d *Dispatcher) Stats() Stats {
	q := len(d.intake) * len(d.endpoints)
	for _, e := range d.endpoints {
		q += len(e.queue)
	}
	return Stats{Events: d.events.Load(), Delivered: d.delivered.Load(), Retries: d.retries.Load(),
		Failed: d.failed.Load(), Dropped: d.dropped.Load(), Queued: q}
}

// Close stops the Dispatcher: an attempt under way is abandoned and what
// waits is not sent (deliveries are not persisted).
func (d *Dispatcher) Close() {
	d.closeOnce.Do(func() {
		d.cancel()
		d.wg.Wait()
	})
}

// Sign returns the SignatureHeader value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is body's signature under secret, in
// constant time.
func Verify(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(header), []byte(Sign(secret, body)))
}

// newID returns "evt-" and 24 random lowercase hex characters.
func newID() string {
	b := make([]byte, 12)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return "evt-" + hex.EncodeToString(b)
}

// encode turns queued events into signed bodies, one per event, and hands
// them to every endpoint's queue. It runs on its own goroutine, so that
// session.ended may ask for the session's statistics.
func (d *Dispatcher) encode() {
	defer d.wg.Done()
	for {
		var p Payload
		select {
		case <-d.ctx.Done():
			return
		case p = <-d.intake:
		}
		if p.Type == TypeSessionEnded && p.Stats == nil && d.cfg.SessionStats != nil {
			if st, err := d.cfg.SessionStats(p.Session); err == nil {
				p.Stats = toStats(st)
			}
		}
		body, err := json.Marshal(p)
		if err != nil { // cannot happen: plain types
			d.log.Error("webhook: encoding an event failed", "type", p.Type, "err", err)
			continue
		}
		dl := delivery{id: p.ID, typ: p.Type, at: p.Time, body: body, sig: Sign(d.cfg.Secret, body)}
		for _, e := range d.endpoints {
			select {
			case e.queue <- dl:
			default:
				if n := d.dropped.Add(1); n&(n-1) == 0 { // the 1st, 2nd, 4th... : a dead endpoint does not flood the log
					d.log.Warn("webhook queue full: event dropped", "url", e.url, "id", dl.id, "type", dl.typ, "dropped", n)
				}
			}
		}
	}
}

// send delivers e's queue in order, one delivery at a time.
func (d *Dispatcher) send(e *endpoint) {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case dl := <-e.queue:
			d.deliver(e, dl)
		}
	}
}

// deliver posts dl to e until it is acknowledged with a 2xx or RetryFor
// has passed since the first attempt.
func (d *Dispatcher) deliver(e *endpoint, dl delivery) {
	giveUp := time.Now().Add(d.cfg.RetryFor)
	backoff := d.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			d.retries.Add(1)
		}
		err := d.post(e, dl)
		if err == nil {
			d.delivered.Add(1)
			if d.cfg.OnDelivered != nil {
				d.cfg.OnDelivered(time.Since(dl.at))
			}
			return
		}
		if d.ctx.Err() != nil {
			d.failed.Add(1)
			return
		}
		if time.Now().Add(backoff).After(giveUp) {
			d.failed.Add(1)
			d.log.Warn("webhook delivery given up", "url", e.url, "id", dl.id, "type", dl.typ,
				"attempts", attempt, "err", err)
			return
		}
		d.log.Debug("webhook delivery failed; retrying", "url", e.url, "id", dl.id, "attempt", attempt,
			"backoff", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-d.ctx.Done():
			t.Stop()
			d.failed.Add(1)
			return
		case <-t.C:
		}
		backoff = min(2*backoff, d.cfg.MaxBackoff)
	}
}

func (d *Dispatcher) post(e *endpoint, dl delivery) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(dl.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sanctuary-webhook/1")
	req.Header.Set(SignatureHeader, dl.sig)
	req.Header.Set(IDHeader, dl.id)
	req.Header.Set(TypeHeader, dl.typ)
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

func toStats(st rooms.SessionStats) *SessionStats {
	return &SessionStats{Created: st.Created.UTC(), Ended: st.Ended.UTC(),
		PeakParticipants: st.PeakParticipants, TotalJoins: st.TotalJoins,
		BreakoutsCreated: st.BreakoutsCreated, Moves: st.Moves, Removals: st.Removals}
}
