package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/sanctuary-sfu/sanctuary/auth"
	"github.com/sanctuary-sfu/sanctuary/auth/agora"
)

// Defaults of `sanctuary token agora`.
const (
	defaultAgoraExpire = 3600           // seconds: 007 token and privilege lifetime; 006 privileges expire now + this
	agora006TSAhead    = 24 * time.Hour // a 006 token's default ts: now + 24 h, as Agora's builder sets it
)

const tokenUsage = `usage:
  sanctuary token agora -channel NAME [-uid N | -account NAME] [-format 006|007]
        [-role publisher|subscriber] [-expire SECONDS (007) | -expire-at UNIX (006)]
        [-salt N -ts UNIX] [-app-id ID -app-certificate CERT]
  sanctuary token jwt -user ID [-role ROLE] [-session ID] [-ttl D] [-alias A] [-jwt-secret S]

Prints one token on standard output. The Agora credentials come from -app-id and
-app-certificate or SANCTUARY_AGORA_APP_ID and SANCTUARY_AGORA_APP_CERTIFICATE; the JWT
secret from -jwt-secret or SANCTUARY_JWT_SECRET (prefer the environment: flags show in ps).
Run "sanctuary token agora -h" or "sanctuary token jwt -h" for every flag.
`

// runToken is the `sanctuary token` command: it prints one Agora token or
// one JWT on stdout, for operators and scripts. args are the arguments after
// "token"; getenv supplies the SANCTUARY_* twins of the credential flags
// (the flag wins). Usage and flag errors go to stderr. -h returns
// flag.ErrHelp.
func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runTokenAt(args, getenv, stdout, stderr, time.Now)
}

// runTokenAt is runToken with a clock, for the defaults that depend on the
// time.
func runTokenAt(args []string, getenv func(string) string, stdout, stderr io.Writer, now func() time.Time) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return errors.New("token: name a kind: agora or jwt")
	}
	switch args[0] {
	case "agora":
		return agoraTokenCommand(args[1:], getenv, stdout, stderr, now)
	case "jwt":
		return jwtTokenCommand(args[1:], getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, tokenUsage)
		return flag.ErrHelp
	}
	fmt.Fprint(stderr, tokenUsage)
	return fmt.Errorf("token: unknown kind %q: want agora or jwt", args[0])
}

// agoraTokenCommand is `sanctuary token agora`.
func agoraTokenCommand(args []string, getenv func(string) string, stdout, stderr io.Writer, now func() time.Time) error {
	fs := flag.NewFlagSet("sanctuary token agora", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		format, channel, account, role string
		creds                          agora.Credentials
		uid, expire, expireAt          uint32Flag
		salt, ts                       uint32Flag
	)
	expire.v = defaultAgoraExpire
	fs.StringVar(&format, "format", agora.Format006, "token format: 006 (AccessToken) or 007 (AccessToken2)")
	fs.StringVar(&creds.AppID, "app-id", "", "Agora app id (or SANCTUARY_AGORA_APP_ID)")
	fs.StringVar(&creds.AppCertificate, "app-certificate", "", "Agora app certificate (or SANCTUARY_AGORA_APP_CERTIFICATE)")
	fs.StringVar(&channel, "channel", "", "channel name (required)")
	fs.Var(&uid, "uid", "numeric uid, 0 to 4294967295; 0 (the default) admits any uid")
	fs.StringVar(&account, "account", "", "string user account, instead of -uid")
	fs.StringVar(&role, "role", "publisher", "publisher (every RTC privilege) or subscriber (join only)")
	fs.Var(&expire, "expire", "007: token and privilege lifetime in seconds after issue")
	fs.Var(&expireAt, "expire-at", "006: absolute unix time the privileges expire (default now + 3600)")
	fs.Var(&salt, "salt", "salt (default: random)")
	fs.Var(&ts, "ts", "007: issue time; 006: token ts (default: now for 007, now + 24 h for 006, as Agora's builders)")
	if err := parseTokenFlags(fs, args, getenv, map[string]string{
		"app-id": "SANCTUARY_AGORA_APP_ID", "app-certificate": "SANCTUARY_AGORA_APP_CERTIFICATE",
	}); err != nil {
		return err
	}
	set := setFlags(fs)

	if format != agora.Format006 && format != agora.Format007 {
		return fmt.Errorf("token agora: unknown -format %q: want 006 or 007", format)
	}
	switch {
	case creds.AppID == "":
		return errors.New("token agora: no app id: give -app-id or set SANCTUARY_AGORA_APP_ID")
	case creds.AppCertificate == "":
		return errors.New("token agora: no app certificate: give -app-certificate or set SANCTUARY_AGORA_APP_CERTIFICATE")
	}
	if err := creds.Validate(); err != nil {
		return fmt.Errorf("token agora: %w", err)
	}
	if channel == "" {
		return errors.New("token agora: -channel is required")
	}
	if set["uid"] && set["account"] {
		return errors.New("token agora: give -uid or -account, not both")
	}
	if set["account"] && account == "" {
		return errors.New("token agora: -account is empty; leave it out for uid 0 (any user)")
	}
	user := account
	if !set["account"] {
		user = agora.UIDString(uid.v)
	}
	agoraRole, err := agora.ParseRole(role)
	if err != nil {
		return fmt.Errorf("token agora: -role: %w", err)
	}
	if format == agora.Format006 && set["expire"] {
		return errors.New("token agora: -expire is for 007; a 006 token takes -expire-at UNIX")
	}
	if format == agora.Format007 && set["expire-at"] {
		return errors.New("token agora: -expire-at is for 006; a 007 token takes -expire SECONDS")
	}

	if !set["salt"] {
		if salt.v, err = agora.NewSalt(); err != nil {
			return err
		}
	}
	t := now().Unix()
	var token string
	if format == agora.Format007 {
		if !set["ts"] {
			ts.v = uint32(t)
		}
		token, err = agora.BuildRTCToken2(creds, channel, user, agoraRole, expire.v, expire.v, salt.v, ts.v)
	} else {
		if !set["ts"] {
			ts.v = uint32(t + int64(agora006TSAhead/time.Second))
		}
		if !set["expire-at"] {
			expireAt.v = uint32(t + defaultAgoraExpire)
		}
		token, err = agora.BuildRTCToken006(creds, channel, user, agoraRole, expireAt.v, salt.v, ts.v)
	}
	if err != nil {
		return fmt.Errorf("token agora: %w", err)
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

// jwtTokenCommand is `sanctuary token jwt`.
func jwtTokenCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sanctuary token jwt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		secret string
		o      auth.MintOptions
	)
	fs.StringVar(&o.UserID, "user", "", "user id, the sub claim (required)")
	fs.StringVar(&o.Role, "role", auth.RoleParticipant, "host, moderator or participant")
	fs.StringVar(&o.Session, "session", "", "session the token is scoped to (default: none, the client names one)")
	fs.DurationVar(&o.TTL, "ttl", time.Hour, "lifetime")
	fs.StringVar(&o.Alias, "alias", "", "display alias, the name claim")
	fs.StringVar(&secret, "jwt-secret", "", "HS256 secret the server verifies with (or SANCTUARY_JWT_SECRET)")
	fs.StringVar(&o.Issuer, "jwt-issuer", "", "iss claim, when the server requires one (or SANCTUARY_JWT_ISSUER)")
	fs.StringVar(&o.Audience, "jwt-audience", "", "aud claim, when the server requires one (or SANCTUARY_JWT_AUDIENCE)")
	if err := parseTokenFlags(fs, args, getenv, map[string]string{
		"jwt-secret": "SANCTUARY_JWT_SECRET", "jwt-issuer": "SANCTUARY_JWT_ISSUER", "jwt-audience": "SANCTUARY_JWT_AUDIENCE",
	}); err != nil {
		return err
	}
	if secret == "" {
		return errors.New("token jwt: no secret: give -jwt-secret or set SANCTUARY_JWT_SECRET")
	}
	if o.UserID == "" {
		return errors.New("token jwt: -user is required")
	}
	if o.TTL <= 0 {
		return fmt.Errorf("token jwt: -ttl must be positive, got %v", o.TTL)
	}
	token, err := auth.Mint([]byte(secret), o)
	if err != nil {
		return fmt.Errorf("token jwt: %w", err)
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

// parseTokenFlags applies the environment twins in env (flag name →
// variable), then parses args, so that a flag given on the command line
// wins. Positional arguments are an error.
func parseTokenFlags(fs *flag.FlagSet, args []string, getenv func(string) string, env map[string]string) error {
	for name, variable := range env {
		if v := getenv(variable); v != "" {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", variable, err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// uint32Flag is a flag holding a decimal uint32.
type uint32Flag struct{ v uint32 }

func (f *uint32Flag) String() string { return strconv.FormatUint(uint64(f.v), 10) }

func (f *uint32Flag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return errors.New("want a whole number from 0 to 4294967295")
	}
	f.v = uint32(n)
	return nil
}
