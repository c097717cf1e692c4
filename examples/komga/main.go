// Command komga signs in to a Komga server and prints who it is signed in
// as, how many API keys the account has and which OAuth2 providers the
// server offers; signed in with a password, it also turns the session into
// a browser cookie (package komga).
//
// It is configured only from the environment (see authclient.NewFromEnv):
//
//	KOMGA_URL=https://nas.example/komga KOMGA_API_KEY=... go run ./examples/komga
//	KOMGA_URL=... KOMGA_USERNAME=me@example.org KOMGA_PASSWORD_FILE=/run/secrets/komga go run ./examples/komga
//
// Without KOMGA_URL it starts an in-process fake Komga (package authtest)
// with a demo account, and says so.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/komga"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if os.Getenv("KOMGA_URL") == "" {
		fake := authtest.NewKomga(authtest.WithPrefix("/komga"))
		defer fake.Close()
		fake.AddUser("demo@example.org", "demo-password", "ADMIN")
		key := fake.AddAPIKey("demo@example.org", "demo key")
		fake.AddOAuthProvider("Google", "google")
		fmt.Printf("KOMGA_URL is not set: using a built-in fake Komga at %s\n", fake.URL)
		fmt.Println("  (for a real server: KOMGA_URL=https://host/komga/ KOMGA_API_KEY_FILE=key.txt go run ./examples/komga)")
		// Configure it exactly as a real deployment would be: through the
		// environment of this process.
		for _, v := range []string{"KOMGA_API_KEY_FILE", "KOMGA_USERNAME", "KOMGA_PASSWORD", "KOMGA_PASSWORD_FILE"} {
			os.Unsetenv(v) // only the fake's credentials
		}
		os.Setenv("KOMGA_URL", fake.URL)
		os.Setenv("KOMGA_API_KEY", key)
	}

	kc, err := komga.NewFromEnv(authclient.WithUserAgent("authclient-example-komga/1.0"))
	if err != nil {
		return err
	}
	c := kc.Core() // the shared operations
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	defer func() { _ = c.Logout(ctx) }() // ends a password session; nothing to do for a key

	me, err := c.CurrentUser(ctx)
	if err != nil {
		if errors.Is(err, authclient.ErrUnauthorized) {
			return fmt.Errorf("%w\ncheck KOMGA_API_KEY, or KOMGA_USERNAME and KOMGA_PASSWORD", err)
		}
		return err
	}
	fmt.Printf("signed in as %s\n", me.Email)

	keys, err := c.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("API keys: %d\n", len(keys))

	providers, err := c.ListOAuthProviders(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(providers))
	for _, p := range providers {
		names = append(names, p.Name+" ("+p.LoginURL+")")
	}
	if len(names) == 0 {
		names = append(names, "none")
	}
	fmt.Printf("OAuth providers: %s\n", strings.Join(names, ", "))

	if c.Session() != nil { // signed in with a password: the session can go to a browser
		ck, err := kc.SessionCookie(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("browser cookie: %s (value not shown)\n", ck.Name)
	}
	return nil
}
