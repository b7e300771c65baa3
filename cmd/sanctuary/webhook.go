package main

import (
	"errors"
	"flag"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanctuary-sfu/sanctuary/rooms"
	"github.com/sanctuary-sfu/sanctuary/signaling/webhook"
)

// webhookConfig is the webhook part of the configuration: where to POST
// session events, and the secret that signs them.
type webhookConfig struct {
	urls   []string
	secret string
	// fromEnv: urls came from SANCTUARY_WEBHOOK_URL; the first -webhook-url
	// of the command line replaces them (the flag wins, as for every flag).
	fromEnv bool
}

func (c *webhookConfig) flags(fs *flag.FlagSet) {
	fs.Func("webhook-url", "POST session events to this URL (repeatable, or comma-separated), signed with -webhook-secret", func(s string) error {
		if c.fromEnv {
			c.urls, c.fromEnv = nil, false
		}
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				if err := webhook.CheckURL(u); err != nil {
					return err
				}
				c.urls = append(c.urls, u)
			}
		}
		return nil
	})
	fs.StringVar(&c.secret, "webhook-secret", "", "HMAC-SHA256 key signing each webhook delivery (prefer SANCTUARY_WEBHOOK_SECRET: flags show in ps)")
}

// check refuses URLs without a secret (unsigned deliveries) and a secret
// without URLs (a forgotten URL).
func (c webhookConfig) check() error {
	switch {
	case len(c.urls) > 0 && c.secret == "":
		return errors.New("-webhook-url needs -webhook-secret: deliveries are signed")
	case len(c.urls) == 0 && c.secret != "":
		return errors.New("-webhook-secret without -webhook-url")
	}
	return nil
}

// start returns a Dispatcher for the configured URLs, or nil when there are
// none. stats gives session.ended its statistics.
func (c webhookConfig) start(stats func(string) (rooms.SessionStats, error), m *metrics, log *slog.Logger) (*webhook.Dispatcher, error) {
	if len(c.urls) == 0 {
		return nil, nil
	}
	d, err := webhook.New(webhook.Config{URLs: c.urls, Secret: []byte(c.secret), SessionStats: stats,
		OnDelivered: m.observeWebhook, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("webhooks on", "urls", len(c.urls))
	return d, nil
}

// observers fans one session event out to every non-nil observer.
func observers(fs ...func(rooms.Event)) func(rooms.Event) {
	var live []func(rooms.Event)
	for _, f := range fs {
		if f != nil {
			live = append(live, f)
		}
	}
	return func(ev rooms.Event) {
		for _, f := range live {
			f(ev)
		}
	}
}

func (m *metrics) observeWebhook(d time.Duration) { m.webhookTime.Observe(d.Seconds()) }

// registerWebhooks adds the webhook counters; with no Dispatcher they stay
// at zero, so that dashboards find them on every server.
func (m *metrics) registerWebhooks(d *webhook.Dispatcher) {
	stats := func() webhook.Stats {
		if d == nil {
			return webhook.Stats{}
		}
		return d.Stats()
	}
	counter := func(name, help string, f func(webhook.Stats) uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(stats())) }))
	}
	counter("sanctuary_webhook_events_total", "Webhook events made from session events.",
		func(s webhook.Stats) uint64 { return s.Events })
	counter("sanctuary_webhook_delivered_total", "Webhook deliveries acknowledged with a 2xx (one per event and URL).",
		func(s webhook.Stats) uint64 { return s.Delivered })
	counter("sanctuary_webhook_retries_total", "Webhook delivery attempts after a failed one.",
		func(s webhook.Stats) uint64 { return s.Retries })
	counter("sanctuary_webhook_failed_total", "Webhook deliveries given up after retrying for their bounded time.",
		func(s webhook.Stats) uint64 { return s.Failed })
	counter("sanctuary_webhook_dropped_total", "Webhook deliveries dropped because a queue was full (a slow or dead endpoint).",
		func(s webhook.Stats) uint64 { return s.Dropped })
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sanctuary_webhook_queued",
		Help: "Webhook deliveries waiting now."}, func() float64 { return float64(stats().Queued) }))
}
