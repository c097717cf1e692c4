// Command audiobookshelf signs in to an Audiobookshelf server and prints who
// it is signed in as, how many libraries the account can see and which
// sign-in methods the server offers.
//
// It is configured only from the environment (see audiobookshelf.NewFromEnv):
//
//	AUDIOBOOKSHELF_URL=https://abs.example AUDIOBOOKSHELF_API_KEY=... go run ./examples/audiobookshelf
//	AUDIOBOOKSHELF_URL=... AUDIOBOOKSHELF_USERNAME=me AUDIOBOOKSHELF_PASSWORD_FILE=/run/secrets/abs go run ./examples/audiobookshelf
//
// Without AUDIOBOOKSHELF_URL it starts an in-process fake Audiobookshelf
// (package authtest) with a demo account, and says so.
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
	"github.com/selfhost-sdk/authclient/audiobookshelf"
	"github.com/selfhost-sdk/authclient/authtest"
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
	if os.Getenv("AUDIOBOOKSHELF_URL") == "" {
		fake := authtest.NewAudiobookshelf()
		defer fake.Close()
		fake.AddUser("demo", "demo-password", "admin")
		fake.AddLibrary("Audiobooks")
		fake.AddLibrary("Podcasts")
		fmt.Printf("AUDIOBOOKSHELF_URL is not set: using a built-in fake Audiobookshelf at %s\n", fake.URL)
		fmt.Println("  (for a real server: AUDIOBOOKSHELF_URL=https://host/ AUDIOBOOKSHELF_API_KEY_FILE=key.txt go run ./examples/audiobookshelf)")
		for _, v := range []string{"AUDIOBOOKSHELF_API_KEY", "AUDIOBOOKSHELF_API_KEY_FILE", "AUDIOBOOKSHELF_PASSWORD_FILE"} {
			os.Unsetenv(v) // only the fake's credentials
		}
		os.Setenv("AUDIOBOOKSHELF_URL", fake.URL)
		os.Setenv("AUDIOBOOKSHELF_USERNAME", "demo")
		os.Setenv("AUDIOBOOKSHELF_PASSWORD", "demo-password")
	}

	abs, err := audiobookshelf.NewFromEnv(authclient.WithUserAgent("authclient-example-audiobookshelf/1.0"))
	if err != nil {
		return err
	}
	c := abs.Core() // the operations every server has
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	defer func() { _ = c.Logout(ctx) }() // ends a password session; nothing to do for a key

	me, err := c.CurrentUser(ctx)
	if err != nil {
		if errors.Is(err, authclient.ErrUnauthorized) {
			return fmt.Errorf("%w\ncheck AUDIOBOOKSHELF_API_KEY (keys are inactive until activated), or AUDIOBOOKSHELF_USERNAME and AUDIOBOOKSHELF_PASSWORD", err)
		}
		return err
	}
	fmt.Printf("signed in as %s\n", me.Username)
	if me.Audiobookshelf != nil && me.Audiobookshelf.DeprecatedToken {
		fmt.Println("warning: the legacy user token is deprecated; create an API key")
	}

	libs, err := abs.ListLibraries(ctx) // Audiobookshelf's own
	if err != nil {
		return err
	}
	fmt.Printf("libraries: %d\n", len(libs))

	info, err := c.Probe(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("login methods: %s (server %s)\n", strings.Join(info.AuthMethods, ", "), info.Version)
	return nil
}
