package signaling

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth/agora"
	"github.com/sanctuary-sfu/sanctuary/rooms"
)

// Agora token endpoint limits and defaults.
const (
	DefaultAgoraTTL   = time.Hour      // token and privilege lifetime when AgoraConfig.TTL is 0
	MaxAgoraTTL       = 24 * time.Hour // the longest lifetime Agora accepts; longer TTLs are cut to it
	maxAgoraBodyBytes = 4 << 10        // request bodies are a few dozen bytes
	agora006TSAhead   = 24 * time.Hour // a 006 token's ts is issue time + 24 h, as Agora's builder sets it
)

// Agora channel names: at most 64 bytes of these characters (Agora's rule).
const (
	maxAgoraChannelBytes = 64
	agoraChannelPunct    = " !#$%&()+-:;<=.>?@[]^_{}|~,"
	breakoutSeparator    = "--"
)

// AgoraConfig configures the Agora token endpoint. It is built in main and
// passed to AgoraTokenHandler, which copies it.
type AgoraConfig struct {
	// Credentials sign every token; they must pass Validate.
	Credentials agora.Credentials
	// TTL is the lifetime of a token and of its privileges; 0 means
	// DefaultAgoraTTL, and it is cut to MaxAgoraTTL. Whole seconds count.
	TTL time.Duration
	// Now returns the issue time; nil means time.Now.
	Now func() time.Time
}

// AgoraTokenRequest is the optional JSON body of a token request. Unknown
// fields are ignored, so that older clients can send what they used to.
type AgoraTokenRequest struct {
	// Session is the session id, needed when the bearer token names none;
	// when both name one they must agree.
	Session string `json:"session,omitempty"`
	// Format is "006" (the default, what older clients expect) or "007".
	Format string `json:"format,omitempty"`
	// Role is "publisher" (the default: every RTC privilege) or
	// "subscriber" (join only).
	Role string `json:"role,omitempty"`
	// UID, when present, must be AgoraUID of the participant id: the
	// server assigns uids, so that no member can sign for another's.
	UID *int64 `json:"uid,omitempty"`
}

// AgoraToken is the answer to a token request.
type AgoraToken struct {
	AppID     string `json:"appId"`
	Channel   string `json:"channel"` // AgoraChannel of the session and the participant's room
	UID       uint32 `json:"uid"`     // the uid the token is signed for; 0: any
	Token     string `json:"token"`
	Format    string `json:"format"`    // "006" or "007"
	ExpiresAt int64  `json:"expiresAt"` // unix seconds: when the token and its privileges expire
}

// AgoraChannel is the Agora channel of a room of a session:
//
//   - the main room (rooms.MainRoom) is the session id itself;
//   - a breakout room is the session id, "--", and the room id;
//   - a result that is empty, over 64 bytes, or has a character outside
//     Agora's set (a-z A-Z 0-9, space and !#$%&()+-:;<=.>?@[]^_{}|~,) is
//     replaced by "s-" and the lowercase hex of the first 16 bytes of
//     SHA-256(session + "\x00" + room): 34 characters, always valid. So is
//     every channel of a session whose id contains "--" or starts with
//     "s-", so that no two rooms of any sessions share a channel.
//
// A participant moved to another room therefore needs a new token for the
// new channel.
func AgoraChannel(session, room string) string {
	name := session
	if room != rooms.MainRoom {
		name = session + breakoutSeparator + room
	}
	ambiguous := strings.Contains(session, breakoutSeparator) || strings.HasPrefix(session, "s-")
	if !ambiguous && validAgoraChannel(name) {
		return name
	}
	sum := sha256.Sum256([]byte(session + "\x00" + room))
	return "s-" + hex.EncodeToString(sum[:16])
}

// validAgoraChannel reports whether name is a channel name Agora accepts.
func validAgoraChannel(name string) bool {
	if name == "" || len(name) > maxAgoraChannelBytes {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte(agoraChannelPunct, c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// AgoraUID is the Agora uid of a participant when the request names none:
// the CRC-32 (IEEE) of the participant id, or 1 when that is 0 (uid 0 would
// admit anyone). Participant ids are stable per (session, user), so a user
// keeps its uid across reconnects, and the participants of a session see
// distinct uids unless two ids collide in 32 bits.
func AgoraUID(participantID string) uint32 {
	if uid := crc32.ChecksumIEEE([]byte(participantID)); uid != 0 {
		return uid
	}
	return 1
}

// AgoraTokenHandler serves POST requests for an Agora RTC token for the
// channel of the room the bearer is in now (see AgoraChannel). The request
// carries the JWT the websocket join takes, as "Authorization: Bearer <jwt>",
// and an optional AgoraTokenRequest body of at most 4 KiB; the answer is an
// AgoraToken, or a JSON error {code, message} with status 405
// method_not_allowed, 503 agora_not_configured, 401 unauthorized,
// token_invalid or token_expired, 413 request_too_large, 400 bad_request,
// 403 wrong_session or not_a_member.
//
// The session comes from the token's session claim or the body's session
// (both: they must agree). The bearer must have a record in it (any state,
// reconnecting included), looked up by user id. The token is for the body's
// uid when it names one, else for AgoraUID of the participant id. It is
// issued now and expires TTL later: a 006 token's privileges at that
// absolute time (its ts is now + 24 h, as Agora's builder sets it), a 007
// token and its privileges TTL seconds after issue.
//
// A nil cfg, or one whose credentials do not validate (logged), gives a
// handler that answers every POST with 503 agora_not_configured.
func (s *Server) AgoraTokenHandler(cfg *AgoraConfig) http.Handler {
	h := &agoraHandler{s: s}
	if cfg == nil {
		return h
	}
	if err := cfg.Credentials.Validate(); err != nil {
		s.log.Error("agora token endpoint disabled", "err", err)
		return h
	}
	c := *cfg
	switch {
	case c.TTL <= 0:
		c.TTL = DefaultAgoraTTL
	case c.TTL > MaxAgoraTTL:
		c.TTL = MaxAgoraTTL
	}
	if c.TTL < time.Second {
		c.TTL = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	h.cfg = &c
	return h
}

// agoraHandler serves one AgoraConfig.
type agoraHandler struct {
	s   *Server
	cfg *AgoraConfig // immutable; TTL in [1 s, MaxAgoraTTL], Now set; nil when not configured
}

func (h *agoraHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, err := h.serve(w, r)
	if err != nil {
		h.s.writeAPIError(w, err, "agora token")
		return
	}
	writeAPIJSON(w, http.StatusOK, tok)
}

// serve answers one request: a token, or an *apiError (any other error is
// a fault of the server).
func (h *agoraHandler) serve(w http.ResponseWriter, r *http.Request) (AgoraToken, error) {
	if r.Method != http.MethodPost {
		return AgoraToken{}, apiErrorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST")
	}
	if h.cfg == nil {
		return AgoraToken{}, apiErrorf(http.StatusServiceUnavailable, CodeAgoraNotConfigured,
			"this server has no Agora app id and certificate")
	}
	id, err := h.s.authenticate(r)
	if err != nil {
		return AgoraToken{}, err
	}
	req, err := readAgoraRequest(w, r)
	if err != nil {
		return AgoraToken{}, err
	}
	opts, err := req.options()
	if err != nil {
		return AgoraToken{}, err
	}
	session := req.Session
	switch {
	case session == "":
		session = id.Session
	case id.Session != "" && id.Session != session:
		return AgoraToken{}, apiErrorf(http.StatusForbidden, CodeWrongSession, "the token is for another session")
	}
	if session == "" {
		return AgoraToken{}, apiErrorf(http.StatusBadRequest, CodeBadRequest, "name a session (in the body or the token)")
	}
	p, err := h.s.hub.ParticipantByUser(session, id.UserID)
	if err != nil {
		if errors.Is(err, rooms.ErrNotFound) {
			return AgoraToken{}, apiErrorf(http.StatusForbidden, CodeNotAMember, "you are not in session %q; join it first", session)
		}
		return AgoraToken{}, err
	}
	// The uid is the server's to give: a member choosing one could take
	// another member's identity in the channel, or any with uid 0.
	uid := AgoraUID(p.ID)
	if opts.uidSet && opts.uid != uid {
		return AgoraToken{}, apiErrorf(http.StatusBadRequest, CodeBadRequest,
			"uid %d: the server assigns your uid, %d; leave uid out or send that one", opts.uid, uid)
	}
	tok, err := h.build(AgoraChannel(session, p.Room), uid, opts)
	if err != nil {
		return AgoraToken{}, err
	}
	h.s.log.Debug("agora token", "session", session, "participant", p.ID, "channel", tok.Channel,
		"uid", tok.UID, "format", tok.Format, "expires_at", tok.ExpiresAt)
	return tok, nil
}

// readAgoraRequest reads the optional body of r: empty, or one JSON object
// of at most maxAgoraBodyBytes.
func readAgoraRequest(w http.ResponseWriter, r *http.Request) (AgoraTokenRequest, error) {
	var req AgoraTokenRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAgoraBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, apiErrorf(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "the body is over %d bytes", maxAgoraBodyBytes)
		}
		return req, apiErrorf(http.StatusBadRequest, CodeBadRequest, "reading the body: %v", err)
	}
	if strings.TrimSpace(string(body)) == "" {
		return req, nil
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, apiErrorf(http.StatusBadRequest, CodeBadRequest, "the body is not the JSON object expected: %v", err)
	}
	return req, nil
}

// tokenOptions are the checked choices of a request.
type tokenOptions struct {
	format string
	role   agora.Role
	uid    uint32
	uidSet bool
}

// options checks the format, role and uid of req and applies the defaults.
func (req AgoraTokenRequest) options() (tokenOptions, error) {
	o := tokenOptions{format: agora.Format006, role: agora.RolePublisher}
	switch req.Format {
	case "", agora.Format006:
	case agora.Format007:
		o.format = agora.Format007
	default:
		return o, apiErrorf(http.StatusBadRequest, CodeBadRequest, "format %q: want %q or %q", req.Format, agora.Format006, agora.Format007)
	}
	if req.Role != "" {
		role, err := agora.ParseRole(req.Role)
		if err != nil {
			return o, apiErrorf(http.StatusBadRequest, CodeBadRequest, "role %q: want publisher or subscriber", req.Role)
		}
		o.role = role
	}
	if req.UID != nil {
		if *req.UID < 0 || *req.UID > math.MaxUint32 {
			return o, apiErrorf(http.StatusBadRequest, CodeBadRequest, "uid %d: want 0 to %d", *req.UID, uint32(math.MaxUint32))
		}
		o.uid, o.uidSet = uint32(*req.UID), true
	}
	return o, nil
}

// build signs a token for channel and uid, issued now. 006 privileges
// expire at the absolute expiresAt; 007 tokens and privileges live TTL
// seconds after issue.
func (h *agoraHandler) build(channel string, uid uint32, o tokenOptions) (AgoraToken, error) {
	salt, err := agora.NewSalt()
	if err != nil {
		return AgoraToken{}, err
	}
	now := h.cfg.Now().Unix()
	ttl := int64(h.cfg.TTL / time.Second)
	expiresAt := now + ttl
	user := agora.UIDString(uid)
	var token string
	if o.format == agora.Format007 {
		token, err = agora.BuildRTCToken2(h.cfg.Credentials, channel, user, o.role,
			uint32(ttl), uint32(ttl), salt, uint32(now))
	} else {
		token, err = agora.BuildRTCToken006(h.cfg.Credentials, channel, user, o.role,
			uint32(expiresAt), salt, uint32(now+int64(agora006TSAhead/time.Second)))
	}
	if err != nil {
		return AgoraToken{}, fmt.Errorf("agora token for channel %q: %w", channel, err)
	}
	return AgoraToken{
		AppID: h.cfg.Credentials.AppID, Channel: channel, UID: uid, Token: token,
		Format: o.format, ExpiresAt: expiresAt,
	}, nil
}
