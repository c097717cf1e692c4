// Command khoj signs in to a Khoj server with an API token and prints who
// it is signed in as and how many API tokens that user has.
//
// It is configured only from the environment (see authclient.NewFromEnv):
//
//	KHOJ_URL=https://khoj.example KHOJ_API_KEY=kk-... go run ./examples/khoj
//	KHOJ_URL=... KHOJ_API_KEY_FILE=/run/secrets/khoj go run ./examples/khoj
//
// KHOJ_API_KEY is a token from Khoj's settings page ("kk-…"), or one a
// script minted for itself with khoj.Client.BootstrapToken (package khoj). Without KHOJ_URL it
// starts an in-process fake Khoj (package authtest) with a demo user and
// token, and says so.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/khoj"
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
	if os.Getenv("KHOJ_URL") == "" {
		fake := authtest.NewKhoj()
		defer fake.Close()
		token := fake.AddToken("demo@example.org", "demo")
		fake.AddToken("demo@example.org", "backup script")
		fmt.Printf("KHOJ_URL is not set: using a built-in fake Khoj at %s with user demo@example.org\n", fake.URL)
		fmt.Println("  (for a real server: KHOJ_URL=https://host/ KHOJ_API_KEY_FILE=token.txt go run ./examples/khoj)")
		// Configure it exactly as a real deployment would be: through the
		// environment of this process.
		for _, v := range []string{"KHOJ_API_KEY_FILE", "KHOJ_USERNAME", "KHOJ_PASSWORD", "KHOJ_PASSWORD_FILE"} {
			os.Unsetenv(v) // only the fake's credentials
		}
		os.Setenv("KHOJ_URL", fake.URL)
		os.Setenv("KHOJ_API_KEY", token)
	}

	kc, err := khoj.NewFromEnv(authclient.WithUserAgent("authclient-example-khoj/1.0"))
	if err != nil {
		return err
	}
	c := kc.Core() // the shared operations
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	u, err := c.CurrentUser(ctx)
	if err != nil {
		return explain(err)
	}
	who := u.Email
	if who == "" {
		who = u.Username // an account with a phone number only
	}
	fmt.Printf("signed in as %s\n", who)

	tokens, err := c.ListAPIKeys(ctx)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		// Anonymous mode: no accounts, so no tokens either.
		fmt.Println("the server runs in anonymous mode: it has no API tokens")
	case err != nil:
		return explain(err)
	default:
		fmt.Printf("%d API tokens\n", len(tokens))
	}
	return nil
}

// explain adds what to check to a rejected credential.
func explain(err error) error {
	if errors.Is(err, authclient.ErrUnauthorized) {
		return fmt.Errorf("%w\ncheck KHOJ_API_KEY: a token from Khoj's settings page, sent as Authorization: Bearer", err)
	}
	return err
}
