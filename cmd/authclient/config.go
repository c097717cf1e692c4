package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/selfhost-sdk/authclient"
)

// globals are the flags every command takes. They override the
// environment NewFromEnv reads.
type globals struct {
	server       string
	url          string
	apiKeyFile   string
	username     string
	passwordFile string
	timeout      time.Duration
	maxRetries   int
	sessionFile  string
	json         bool
	verbose      bool
}

// globalsHelp describes the flags every command takes.
const globalsHelp = `Flags every command takes (before or after the command):
  --server NAME          komga, audiobookshelf, comfyui or khoj (or AUTHCLIENT_SERVER)
  --url URL              the server's base URL (overrides <SERVER>_URL)
  --api-key-file FILE    a file holding the API key (overrides <SERVER>_API_KEY[_FILE])
  --username NAME        the user to sign in as (overrides <SERVER>_USERNAME)
  --password-file FILE   a file holding the password (overrides <SERVER>_PASSWORD[_FILE])
  --timeout D            per-attempt timeout, e.g. 45s (overrides <SERVER>_TIMEOUT)
  --max-retries N        retries of idempotent calls (overrides <SERVER>_MAX_RETRIES)
  --session-file FILE    use and update a session saved by 'login' (Komga, Audiobookshelf)
  --json                 print machine-readable JSON on stdout, errors included
  --verbose              log each request (redacted) to stderr

Configuration is read like authclient.NewFromEnv reads it: <SERVER> is KOMGA,
AUDIOBOOKSHELF, COMFYUI or KHOJ, and the variables are <SERVER>_URL,
<SERVER>_API_KEY or <SERVER>_API_KEY_FILE, <SERVER>_USERNAME, <SERVER>_PASSWORD
or <SERVER>_PASSWORD_FILE, <SERVER>_TIMEOUT and <SERVER>_MAX_RETRIES. Secrets
are never taken as flags (they would show in the process list): use the
variables or the *-file flags.
`

// register adds the global flags to fs, with the values already set as
// defaults, so they may be given before and after the command.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.server, "server", g.server, "")
	fs.StringVar(&g.url, "url", g.url, "")
	fs.StringVar(&g.apiKeyFile, "api-key-file", g.apiKeyFile, "")
	fs.StringVar(&g.username, "username", g.username, "")
	fs.StringVar(&g.passwordFile, "password-file", g.passwordFile, "")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "")
	fs.IntVar(&g.maxRetries, "max-retries", g.maxRetries, "")
	fs.StringVar(&g.sessionFile, "session-file", g.sessionFile, "")
	fs.BoolVar(&g.json, "json", g.json, "")
	fs.BoolVar(&g.verbose, "verbose", g.verbose, "")
}

// serverName returns the configured server, checked.
func (g *globals) serverName() (authclient.Server, error) {
	s := g.server
	if s == "" {
		s = os.Getenv("AUTHCLIENT_SERVER")
	}
	switch srv := authclient.Server(strings.ToLower(s)); srv {
	case authclient.Komga, authclient.Audiobookshelf, authclient.ComfyUI, authclient.Khoj:
		return srv, nil
	case "":
		return "", &usageError{"no server given: pass --server komga|audiobookshelf|comfyui|khoj (or set AUTHCLIENT_SERVER)"}
	}
	return "", &usageError{fmt.Sprintf("unknown server %q: use komga, audiobookshelf, comfyui or khoj", truncate(s, 40))}
}

// envPrefix is the variables' prefix of server.
func envPrefix(server authclient.Server) string { return strings.ToUpper(string(server)) }

// applyFlagsToEnv makes the flags override the environment, so that
// NewFromEnv reads them with its own rules (and its own errors).
func (g *globals) applyFlagsToEnv(server authclient.Server) {
	p := envPrefix(server)
	if g.url != "" {
		os.Setenv(p+"_URL", g.url)
	}
	if g.apiKeyFile != "" {
		os.Unsetenv(p + "_API_KEY")
		os.Setenv(p+"_API_KEY_FILE", g.apiKeyFile)
	}
	if g.username != "" {
		os.Setenv(p+"_USERNAME", g.username)
	}
	if g.passwordFile != "" {
		os.Unsetenv(p + "_PASSWORD")
		os.Setenv(p+"_PASSWORD_FILE", g.passwordFile)
	}
}

// env is one run's configured client and what it needs to finish.
type env struct {
	g      *globals
	server authclient.Server
	client *authclient.Client
	out    *output
	stderr io.Writer

	mu         sync.Mutex
	sessionErr error // the last failure to write back a renewed session
}

// clientOptions are the options the flags add to NewFromEnv's.
func (g *globals) clientOptions(stderr io.Writer) []authclient.Option {
	var opts []authclient.Option
	if g.timeout > 0 {
		opts = append(opts, authclient.WithTimeout(g.timeout))
	}
	if g.maxRetries >= 0 {
		opts = append(opts, authclient.WithMaxRetries(g.maxRetries))
	}
	if g.verbose {
		opts = append(opts, authclient.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	return opts
}

// newEnv builds the client from the environment and the flags. With
// useSession, a session file given with --session-file is restored and
// every renewed session is written back to it.
func newEnv(g *globals, stdout, stderr io.Writer, useSession bool) (*env, error) {
	server, err := g.serverName()
	if err != nil {
		return nil, err
	}
	g.applyFlagsToEnv(server)
	e := &env{g: g, server: server, out: &output{w: stdout, json: g.json}, stderr: stderr}
	opts := g.clientOptions(stderr)
	if useSession && g.sessionFile != "" {
		s, err := loadSession(g.sessionFile, server)
		if err != nil {
			return nil, err
		}
		opts = append(opts, authclient.WithSession(s), authclient.WithSessionHook(e.saveSession))
	}
	c, err := authclient.NewFromEnv(server, opts...)
	if err != nil {
		return nil, err
	}
	e.client = c
	return e, nil
}

// saveSession writes a renewed session back to the session file.
func (e *env) saveSession(s authclient.Session) {
	err := storeSession(e.g.sessionFile, &s)
	e.mu.Lock()
	e.sessionErr = err
	e.mu.Unlock()
}

// finish reports a session that could not be written back.
func (e *env) finish(err error) error {
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessionErr
}

// loadSession reads a session file written by storeSession.
func loadSession(path string, server authclient.Server) (*authclient.Session, error) {
	b, err := readBounded(path, maxSessionFile)
	if err != nil {
		return nil, &authclient.ConfigError{Setting: "--session-file", Problem: "cannot read the session file (run 'authclient login' first)", Err: cause(err)}
	}
	return parseSession(b, server)
}

// parseSession decodes a session file's content; it never quotes it.
func parseSession(b []byte, server authclient.Server) (*authclient.Session, error) {
	var s authclient.Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, &authclient.ConfigError{Setting: "--session-file", Problem: "the session file is not a saved session (run 'authclient login' again)"}
	}
	if s.Server != server {
		return nil, &authclient.ConfigError{Setting: "--session-file", Problem: fmt.Sprintf("the session file holds a session of %q, not of %s", truncate(string(s.Server), 40), server)}
	}
	if s.Token == "" && s.RefreshToken == "" && s.RememberMe == "" {
		return nil, &authclient.ConfigError{Setting: "--session-file", Problem: "the session file holds no session (run 'authclient login' again)"}
	}
	return &s, nil
}

// storeSession writes s to path, 0600, atomically.
func storeSession(path string, s *authclient.Session) error {
	b, err := sessionBytes(s)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// jsonMarshal is json.Marshal.
func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// truncate bounds untrusted text quoted in a message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
