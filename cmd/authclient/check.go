package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/selfhost-sdk/authclient"
)

const checkHelp = `Usage: authclient check [flags]

Probes the server (is it the configured server, which version), checks that
it accepts the credential, and prints who the credential signs in as and what
it can do: whether it is an admin, its roles, whether it may manage API keys.
The exit code says what failed (see below), so a CI job can stop early with a
clear reason.

Example:
  KOMGA_URL=https://nas.example/komga/ KOMGA_API_KEY_FILE=/run/secrets/komga \
    authclient check --server komga
`

// checkResult is check's --json output.
type checkResult struct {
	Server      string   `json:"server"`
	URL         string   `json:"url"`
	Version     string   `json:"version,omitempty"`
	Anonymous   bool     `json:"anonymous,omitempty"`
	User        string   `json:"user,omitempty"`
	UserID      string   `json:"user_id,omitempty"`
	Admin       bool     `json:"admin"`
	Roles       []string `json:"roles,omitempty"`
	ManagesKeys bool     `json:"can_manage_api_keys"`
	KeysNote    string   `json:"api_keys_note,omitempty"`
	Operations  []string `json:"operations"`
}

// runCheck is "authclient check".
func runCheck(ctx context.Context, g *globals, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if pos, err := parseFlags(flag.NewFlagSet("check", flag.ContinueOnError), g, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return &usageError{"check takes no arguments"}
	}
	e, err := newEnv(g, stdout, stderr, true)
	if err != nil {
		return err
	}
	return e.finish(e.check(ctx))
}

func (e *env) check(ctx context.Context) error {
	c := e.client
	info, err := c.Probe(ctx)
	if err != nil {
		return fmt.Errorf("probing the server: %w", err)
	}
	if err := c.CheckAuth(ctx); err != nil {
		return fmt.Errorf("checking the credential: %w", err)
	}
	r := checkResult{Server: string(e.server), URL: c.BaseURL(), Version: info.Version, Anonymous: info.Anonymous}
	if e.server.Supports(authclient.OpCurrentUser) {
		u, err := c.CurrentUser(ctx)
		if err != nil {
			return fmt.Errorf("reading the signed-in user: %w", err)
		}
		r.User, r.UserID, r.Admin, r.Roles = u.Username, u.ID, u.Admin, u.Roles
		if r.Version == "" && u.Khoj != nil {
			r.Version = u.Khoj.Version
		}
	}
	if r.Version == "" {
		if h, err := c.Health(ctx); err == nil {
			r.Version = h.Version
		}
	}
	if e.server.Supports(authclient.OpListAPIKeys) && !info.Anonymous {
		_, err := c.ListAPIKeys(ctx)
		switch {
		case err == nil:
			r.ManagesKeys = true
		case errors.Is(err, authclient.ErrForbidden), errors.Is(err, authclient.ErrUnauthorized), errors.Is(err, errors.ErrUnsupported):
			r.KeysNote = "this credential may not list API keys"
		default:
			return fmt.Errorf("listing API keys: %w", err)
		}
	} else {
		r.KeysNote = "the server has no API keys to manage"
	}
	for _, op := range []authclient.Operation{authclient.OpLogin, authclient.OpLogout, authclient.OpCurrentUser,
		authclient.OpListAPIKeys, authclient.OpCreateAPIKey, authclient.OpDeleteAPIKey, authclient.OpRotateAPIKey} {
		if e.server.Supports(op) {
			r.Operations = append(r.Operations, string(op))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server:      %s at %s\n", r.Server, r.URL)
	if r.Version != "" {
		fmt.Fprintf(&b, "version:     %s\n", r.Version)
	}
	switch {
	case r.Anonymous:
		fmt.Fprintf(&b, "signed in:   anonymous mode (every request acts as the default user)\n")
	case r.User != "":
		fmt.Fprintf(&b, "signed in:   %s (id %s)\n", r.User, r.UserID)
	default:
		fmt.Fprintf(&b, "signed in:   credential accepted (the server has no accounts)\n")
	}
	fmt.Fprintf(&b, "admin:       %t\n", r.Admin)
	if len(r.Roles) > 0 {
		fmt.Fprintf(&b, "roles:       %s\n", strings.Join(r.Roles, ", "))
	}
	if r.ManagesKeys {
		fmt.Fprintf(&b, "API keys:    can list, create, delete and rotate\n")
	} else {
		fmt.Fprintf(&b, "API keys:    %s\n", r.KeysNote)
	}
	fmt.Fprintf(&b, "operations:  %s\n", strings.Join(r.Operations, ", "))
	return e.out.result(r, b.String())
}
