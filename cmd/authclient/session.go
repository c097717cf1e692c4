package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/selfhost-sdk/authclient"
)

const loginHelp = `Usage: authclient login --session-file FILE [flags]

Signs in with <SERVER>_USERNAME and <SERVER>_PASSWORD (or _PASSWORD_FILE,
--username, --password-file) and saves the session to FILE (0600, written
atomically), so later runs reuse it with --session-file instead of signing
in again: every command given --session-file restores the session and writes
renewed tokens back (Audiobookshelf rotates its refresh token on each
refresh). An API key configured as well is ignored. Komga and
Audiobookshelf only. The file holds secrets: keep it like a password.

Example:
  AUDIOBOOKSHELF_USERNAME=ci AUDIOBOOKSHELF_PASSWORD_FILE=/run/secrets/abs \
    authclient login --server audiobookshelf --session-file ~/.abs-session
  authclient check --server audiobookshelf --session-file ~/.abs-session
`

const logoutHelp = `Usage: authclient logout --session-file FILE [flags]

Ends the session saved in FILE on the server and removes the file.

Example:
  authclient logout --server komga --session-file ~/.komga-session
`

// sessionJSON is login's and logout's --json output: never a token.
type sessionJSON struct {
	Server      string     `json:"server"`
	User        string     `json:"user,omitempty"`
	Expiry      *time.Time `json:"expiry,omitempty"`
	SessionFile string     `json:"session_file"`
	LoggedOut   bool       `json:"logged_out,omitempty"`
}

// runLogin is "authclient login".
func runLogin(ctx context.Context, g *globals, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if pos, err := parseFlags(flag.NewFlagSet("login", flag.ContinueOnError), g, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return &usageError{"login takes no arguments"}
	}
	if g.sessionFile == "" {
		return &usageError{"login needs --session-file FILE to save the session to"}
	}
	server, err := g.serverName()
	if err != nil {
		return err
	}
	// login is the password sign-in: an API key configured as well (which
	// would win) is ignored.
	g.apiKeyFile = ""
	os.Unsetenv(envPrefix(server) + "_API_KEY")
	os.Unsetenv(envPrefix(server) + "_API_KEY_FILE")
	e, err := newEnv(g, stdout, stderr, false)
	if err != nil {
		return err
	}
	if !e.server.Supports(authclient.OpLogin) {
		_, err := e.client.Login(ctx, "-", "-") // the SDK's *UnsupportedError; nothing is sent
		return err
	}
	p := envPrefix(e.server)
	needs := "login needs a username (" + p + "_USERNAME or --username) and a password (" + p + "_PASSWORD, " + p + "_PASSWORD_FILE or --password-file)"
	if os.Getenv(p+"_USERNAME") == "" {
		return &authclient.ConfigError{Setting: p + "_USERNAME", Problem: needs}
	}
	if os.Getenv(p+"_PASSWORD") == "" && os.Getenv(p+"_PASSWORD_FILE") == "" {
		return &authclient.ConfigError{Setting: p + "_PASSWORD", Problem: needs}
	}
	f, err := prepareFile(g.sessionFile)
	if err != nil {
		return err
	}
	defer f.abort()
	// The client signs in with NewFromEnv's username and password (its own
	// rules for the password file) on its first call.
	if err := e.client.CheckAuth(ctx); err != nil {
		return fmt.Errorf("signing in: %w", err)
	}
	s := e.client.Session()
	if s == nil {
		return fmt.Errorf("signing in: the server accepted the credential but gave no session")
	}
	b, err := sessionBytes(s)
	if err != nil {
		return err
	}
	if err := f.commit(b); err != nil {
		e.client.Logout(context.WithoutCancel(ctx))
		return fmt.Errorf("%w; the new session was ended again", err)
	}
	j := sessionJSON{Server: string(e.server), User: s.Username, SessionFile: g.sessionFile}
	text := fmt.Sprintf("signed in to %s as %s; session saved to %s (mode 0600)\n", e.server, s.Username, g.sessionFile)
	if !s.Expiry.IsZero() {
		j.Expiry = &s.Expiry
		text += fmt.Sprintf("the session token expires at %s and is renewed as it is used\n", s.Expiry.UTC().Format(time.RFC3339))
	}
	return e.out.result(j, text)
}

// sessionBytes encodes a session for its file.
func sessionBytes(s *authclient.Session) ([]byte, error) {
	b, err := jsonMarshal(s)
	if err != nil {
		return nil, &outputError{errors.New("cannot encode the session")}
	}
	return append(b, '\n'), nil
}

// runLogout is "authclient logout".
func runLogout(ctx context.Context, g *globals, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if pos, err := parseFlags(flag.NewFlagSet("logout", flag.ContinueOnError), g, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return &usageError{"logout takes no arguments"}
	}
	if g.sessionFile == "" {
		return &usageError{"logout needs --session-file FILE, the session saved by 'authclient login'"}
	}
	e, err := newEnv(g, stdout, stderr, true)
	if err != nil {
		return err
	}
	if err := e.client.Logout(ctx); err != nil {
		return fmt.Errorf("signing out: %w", err)
	}
	if err := os.Remove(g.sessionFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return &outputError{fmt.Errorf("signed out, but cannot remove %s: %v", g.sessionFile, cause(err))}
	}
	return e.out.result(sessionJSON{Server: string(e.server), SessionFile: g.sessionFile, LoggedOut: true},
		fmt.Sprintf("signed out of %s; removed %s\n", e.server, g.sessionFile))
}
