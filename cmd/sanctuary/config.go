package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/auth/agora"
	"github.com/sanctuary-sfu/sanctuary/rooms/redisstore"
	"github.com/sanctuary-sfu/sanctuary/sfu"
	"github.com/sanctuary-sfu/sanctuary/signaling"
)

// config is the server's configuration: flags, each with a SANCTUARY_*
// environment twin (the flag wins).
type config struct {
	listen         string
	jwtSecret      string
	jwtPublicKey   string // PEM file path
	jwtIssuer      string
	jwtAudience    string
	slots          int
	dev            bool
	logLevel       slog.Level
	udpPort        int // 0: an ephemeral port per peer
	tcpPort        int // 0: no ICE over TCP
	loopbackOnly   bool
	natIPs         []string
	reconnectGrace time.Duration
	agora          agora.Credentials // both empty, or both valid (checked by parseConfig)
	http           httpLimits        // every field positive (checked by parseConfig)
	origins        originPolicy      // who may open the websocket
	tlsCert        string            // PEM certificate chain file; with tlsKey, serve HTTPS
	tlsKey         string            // PEM private key file
	turn           turnConfig        // TURN servers handed to clients (checked by parseConfig)
	limits         limits            // bounds on joins and sockets; 0: the default, <0: none
	trustProxy     bool              // take the client address from X-Forwarded-For
	drain          time.Duration     // SIGTERM: how long to wait for clients to go
	redisURL       string            // redis:// or rediss://; "": sessions in memory only
	redisSentinel  string            // master name: redisURL names Sentinels; "": a plain Redis
	publicURL      string            // this node's URL as clients reach it (redirects); "": from listen
	leaseTTL       time.Duration     // a dead node's sessions move to another after this
	webhooks       webhookConfig     // where session events are POSTed (checked by parseConfig)
	adminToken     string            // the operator's bearer token for /api/v1/admin/; "": no admin API
	pprofListen    string            // address of Go's profiler; "": none
	udpBatch       bool              // send each fan-out on the UDP port with sendmmsg
	directWrites   bool              // seal and send forwarded packets in the SFU, not through pion's write path
	dtx            bool              // the offer asks clients for Opus DTX
	fanoutCores    int               // goroutines one fan-out may use; 0: GOMAXPROCS
	gcPercent      int               // Go's GC target (debug.SetGCPercent); -1: leave the runtime's (GOGC)
}

// limits are the server's bounds on participants, sessions and sockets
// per address (signaling.Config has their meaning).
type limits struct {
	sessionParticipants, participants, sessions, socketsPerIP, socketBurst int
	socketRate                                                             float64
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("sanctuary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config{}
	var logLevel, natIPs, origins string
	dev, loopback := autoFlag{}, autoFlag{}
	udpPort, tcpPort := autoPort{}, autoPort{}
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "HTTP address (websocket /ws, web client, /metrics, /healthz)")
	fs.StringVar(&c.jwtSecret, "jwt-secret", "", "HS256 secret for client tokens; none: dev mode with a generated one")
	fs.StringVar(&c.jwtPublicKey, "jwt-public-key", "", "PEM file with an RSA (RS256) or EC P-256 (ES256) public key")
	fs.StringVar(&c.jwtIssuer, "jwt-issuer", "", "required iss claim, if set")
	fs.StringVar(&c.jwtAudience, "jwt-audience", "", "required aud claim, if set")
	fs.IntVar(&c.slots, "slots", sfu.DefaultSlots, "K: downstream audio slots per participant (1-16)")
	fs.Var(&dev, "dev", "dev mode: generated secret, printed host token, loopback ICE (default: on when no key is configured)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Var(&udpPort, "udp-port", "serve all ICE over UDP on this one port, 0: an ephemeral port per peer (default: 7882, 0 in dev mode)")
	fs.Var(&tcpPort, "tcp-port", "serve ICE over TCP on this one port, for clients whose network blocks UDP; 0: none (default: 7881, 0 in dev mode)")
	fs.Var(&loopback, "ice-loopback-only", "gather and accept ICE candidates on 127.0.0.1 only (default: in dev mode)")
	fs.StringVar(&natIPs, "nat-ip", "", "comma-separated public IPs to advertise as host candidates")
	fs.DurationVar(&c.reconnectGrace, "reconnect-grace", 20*time.Second, "how long a dropped participant keeps its record")
	fs.StringVar(&c.agora.AppID, "agora-app-id", "", "Agora app id: serves Agora tokens at POST /api/v1/agora/token (with -agora-app-certificate)")
	fs.StringVar(&c.agora.AppCertificate, "agora-app-certificate", "", "Agora app certificate (prefer SANCTUARY_AGORA_APP_CERTIFICATE: flags show in ps)")
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated browser origins allowed to open the websocket, or *; none: the server's own origin (any in dev mode)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate chain: serve HTTPS and WSS directly (with -tls-key)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.IntVar(&c.limits.sessionParticipants, "max-session-participants", 0, "participants in one session (0: 2000, -1: no bound)")
	fs.IntVar(&c.limits.participants, "max-participants", 0, "participants on this server (0: 10000, -1: no bound)")
	fs.IntVar(&c.limits.sessions, "max-sessions", 0, "sessions on this server (0: 2000, -1: no bound)")
	fs.IntVar(&c.limits.socketsPerIP, "max-sockets-per-ip", 0, "websockets open at once from one client address (0: 1000, -1: no bound)")
	fs.Float64Var(&c.limits.socketRate, "socket-rate-per-ip", 0, "new websockets per second from one client address, sustained (0: 50, -1: no bound)")
	fs.IntVar(&c.limits.socketBurst, "socket-burst-per-ip", 0, "new websockets at once from one client address (0: 1000)")
	fs.BoolVar(&c.trustProxy, "trust-forwarded-for", false, "behind a reverse proxy: the client address is the last X-Forwarded-For entry (only if nothing else can reach the server)")
	fs.DurationVar(&c.drain, "shutdown-timeout", 15*time.Second, "on SIGTERM: how long to wait for clients to move on before closing everything")
	fs.StringVar(&c.redisURL, "redis", "", "keep session state in Redis, redis://[user:pass@]host:port[/db] or rediss:// (TLS): restarts and several nodes carry sessions on; none: memory only")
	fs.StringVar(&c.redisSentinel, "redis-sentinel", "", "Redis Sentinel master name: -redis then names the Sentinels (more with ?addr=host:port)")
	fs.StringVar(&c.publicURL, "public-url", "", "with -redis: this node's URL as clients reach it (https://node-a.example.com, or its wss://…/ws), sent in redirects to joins for its sessions; none: from -listen")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", redisstore.DefaultLeaseTTL, "with -redis: how long a node's hold on its sessions outlives it; a dead node's sessions move after this")
	c.http.flags(fs)
	c.turn.flags(fs)
	c.webhooks.flags(fs)
	fs.BoolVar(&c.udpBatch, "udp-batch", true, "with -udp-port: send each packet's fan-out in a few sendmmsg calls instead of one sendto per listener")
	fs.BoolVar(&c.dtx, "dtx", true, "ask clients to send with Opus DTX (usedtx=1): in silence a packet every few hundred ms instead of 50 a second; false: for clients that mishandle it, or for comparison")
	fs.BoolVar(&c.directWrites, "direct-writes", true, "seal and send forwarded audio in the SFU itself; false: through pion's write path (for comparison)")
	fs.IntVar(&c.fanoutCores, "fanout-cores", 0, "goroutines that share the fan-out of one packet to 128 listeners or more; 0: one per core (GOMAXPROCS)")
	fs.IntVar(&c.gcPercent, "gc-percent", defaultGCPercent, "Go's GC target once nobody has joined for 10 s: the heap may grow this many % over live data between collections (Go's GOGC; while people join, Go's 100); the GOGC environment variable, when set, wins over the default and stays as it is")
	fs.StringVar(&c.pprofListen, "pprof-listen", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 (keep it private); none: off")
	fs.StringVar(&c.adminToken, "admin-token", "", "bearer token of the operator's view /admin and its API /api/v1/admin/ (prefer SANCTUARY_ADMIN_TOKEN); none: no admin API")

	// Every flag has an environment twin: -jwt-secret is SANCTUARY_JWT_SECRET.
	// The environment is applied first, so a flag on the command line wins.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SANCTUARY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	c.webhooks.fromEnv = len(c.webhooks.urls) > 0
	if v := getenv("SANCTUARY_REDIS_URL"); v != "" && c.redisURL == "" {
		c.redisURL = v // the name deployments use; SANCTUARY_REDIS and -redis win
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.fanoutCores < 0 {
		return c, fmt.Errorf("-fanout-cores must be 0 or more, got %d", c.fanoutCores)
	}
	if c.gcPercent < 1 {
		return c, fmt.Errorf("-gc-percent must be 1 or more, got %d", c.gcPercent)
	}
	gcSet := false
	fs.Visit(func(f *flag.Flag) { gcSet = gcSet || f.Name == "gc-percent" })
	if !gcSet && getenv("GOGC") != "" {
		c.gcPercent = -1 // the runtime read GOGC at start
	}
	if c.slots < 1 || c.slots > sfu.MaxSlots {
		return c, fmt.Errorf("-slots must be 1..%d, got %d", sfu.MaxSlots, c.slots)
	}
	if err := c.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return c, fmt.Errorf("-log-level: %w", err)
	}
	c.dev = dev.or(c.jwtSecret == "" && c.jwtPublicKey == "")
	c.loopbackOnly = loopback.or(c.dev)
	c.udpPort, c.tcpPort = udpPort.or(c.dev, defaultUDPPort), tcpPort.or(c.dev, defaultTCPPort)
	if err := checkAgora(c.agora); err != nil {
		return c, err
	}
	if err := c.http.check(); err != nil {
		return c, err
	}
	if err := c.webhooks.check(); err != nil {
		return c, err
	}
	originPolicy, err := parseOrigins(origins, c.dev)
	if err != nil {
		return c, err
	}
	c.origins = originPolicy
	if c.redisSentinel != "" && c.redisURL == "" {
		return c, errors.New("-redis-sentinel needs -redis with the Sentinels' address")
	}
	if c.redisURL != "" && !strings.HasPrefix(c.redisURL, "redis://") && !strings.HasPrefix(c.redisURL, "rediss://") {
		return c, errors.New("-redis: want a redis:// or rediss:// URL")
	}
	if c.leaseTTL < 300*time.Millisecond {
		return c, errors.New("-lease-ttl: at least 300ms")
	}
	if c.publicURL != "" {
		if _, err := websocketURL(c.publicURL); err != nil {
			return c, fmt.Errorf("-public-url: %w", err)
		}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return c, errors.New("-tls-cert and -tls-key go together")
	}
	for _, ip := range strings.Split(natIPs, ",") {
		if ip = strings.TrimSpace(ip); ip != "" {
			if net.ParseIP(ip) == nil {
				return c, fmt.Errorf("-nat-ip: %q is not an IP address", ip)
			}
			c.natIPs = append(c.natIPs, ip)
		}
	}
	if err := c.turn.resolve(c.natIPs, c.loopbackOnly); err != nil {
		return c, err
	}
	return c, nil
}

// The media ports of a deployment (outside dev mode): all ICE over UDP on
// one port, and ICE over TCP on another, so a firewall opens exactly these
// two besides HTTPS.
const (
	defaultUDPPort = 7882
	defaultTCPPort = 7881
)

// defaultGCPercent is the server's GC target once nobody has joined for a
// while (gc.go), where Go's own is 100. Forwarding allocates almost
// nothing (about 0.6 MB/s at 54,000 forwarded packets/s), so with Go's
// 100 % the heap sits at about twice its live data for as long as the
// session lasts. With 25 % once quiet, the server's RSS at 110 participants
// was 339–340 KB a participant instead of 398–418, with no change in CPU
// per forwarded packet that alternated runs could see
// (cmd/sanctuary-bots/BENCHMARKS.md, "GC target that follows the joins").
const defaultGCPercent = 25

// autoPort is a port flag whose default depends on dev mode, decided after
// parsing: 0 in dev mode (ephemeral ports, several dev servers side by
// side), the deployment default otherwise.
type autoPort struct {
	set bool
	v   int
}

func (p *autoPort) String() string { return strconv.Itoa(p.v) }
func (p *autoPort) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 65535 {
		return fmt.Errorf("a port is 0..65535, got %q", s)
	}
	p.set, p.v = true, v
	return nil
}

func (p *autoPort) or(dev bool, deployment int) int {
	switch {
	case p.set:
		return p.v
	case dev:
		return 0
	}
	return deployment
}

// autoFlag is a boolean flag whose default is decided after parsing.
type autoFlag struct {
	set, v bool
}

func (f *autoFlag) String() string   { return fmt.Sprint(f.v) }
func (f *autoFlag) IsBoolFlag() bool { return true }
func (f *autoFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	f.set, f.v = true, v
	return nil
}

func (f *autoFlag) or(def bool) bool {
	if f.set {
		return f.v
	}
	return def
}

// verifier builds the token verifier. In dev mode without a secret it
// generates one and returns it (printable) for the dev help.
func (c config) verifier() (v *auth.Verifier, devSecret string, err error) {
	ac := auth.Config{HMACSecret: []byte(c.jwtSecret), Issuer: c.jwtIssuer, Audience: c.jwtAudience}
	if c.jwtPublicKey != "" {
		pemBytes, err := os.ReadFile(c.jwtPublicKey)
		if err != nil {
			return nil, "", fmt.Errorf("-jwt-public-key: %w", err)
		}
		if ac.PublicKey, err = auth.LoadPublicKey(pemBytes); err != nil {
			return nil, "", fmt.Errorf("-jwt-public-key: %w", err)
		}
	}
	if c.jwtSecret == "" && c.jwtPublicKey == "" {
		if !c.dev {
			return nil, "", errors.New("no -jwt-secret or -jwt-public-key: set one, or run with -dev")
		}
		raw, err := auth.GenerateSecret()
		if err != nil {
			return nil, "", err
		}
		devSecret = hex.EncodeToString(raw)
		ac.HMACSecret = []byte(devSecret)
	}
	v, err = auth.NewVerifier(ac)
	return v, devSecret, err
}

// checkAgora accepts no Agora credentials (the token endpoint answers 503)
// or a valid pair; half a pair or a malformed one stops the server.
func checkAgora(creds agora.Credentials) error {
	switch {
	case creds == agora.Credentials{}:
		return nil
	case creds.AppID == "" || creds.AppCertificate == "":
		return errors.New("-agora-app-id and -agora-app-certificate go together: set both or neither")
	}
	if err := creds.Validate(); err != nil {
		return fmt.Errorf("-agora-app-id/-agora-app-certificate: %w", err)
	}
	return nil
}

// agoraConfig is the Agora token endpoint's configuration, or nil when no
// credentials are configured.
func (c config) agoraConfig() *signaling.AgoraConfig {
	if c.agora == (agora.Credentials{}) {
		return nil
	}
	return &signaling.AgoraConfig{Credentials: c.agora}
}

// printDevHelp prints a ready host token and bots command for dev mode.
func printDevHelp(w io.Writer, addr, secret string, tls bool) {
	web, ws := "http", "ws"
	if tls {
		web, ws = "https", "wss"
	}
	token, err := auth.Mint([]byte(secret), auth.MintOptions{
		UserID: "dev-host", Alias: "Host", Role: auth.RoleHost, Session: "demo", TTL: 12 * time.Hour,
	})
	if err != nil {
		fmt.Fprintln(w, "dev token:", err)
		return
	}
	fmt.Fprintf(w, `
Sanctuary SFU (dev mode) on %[4]s://%[1]s
  dev JWT secret: %[2]s
  host token for session "demo" (12 h): %[3]s
  bots: go run ./cmd/sanctuary-bots -url %[5]s://%[1]s/ws -secret %[2]s -session demo -bots 10 -speakers 3 -duration 20s

`, addr, secret, token, web, ws)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
