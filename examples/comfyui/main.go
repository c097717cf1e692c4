// Command comfyui checks a ComfyUI server: it prints its health and queue
// sizes, then checks that the server accepts the API key.
//
// It uses the typed client of package comfyui, configured only from the
// environment (see comfyui.NewFromEnv):
//
//	COMFYUI_URL=http://gpu-box:8188 COMFYUI_API_KEY=... go run ./examples/comfyui
//	COMFYUI_URL=... COMFYUI_API_KEY_FILE=/run/secrets/comfyui go run ./examples/comfyui
//	COMFYUI_URL=https://proxy.example/comfyui COMFYUI_USERNAME=me COMFYUI_PASSWORD=... go run ./examples/comfyui
//
// COMFYUI_API_KEY is the key the server was started with (--api-key or
// --api-key-file, from the API-key patch); COMFYUI_USERNAME and
// COMFYUI_PASSWORD are HTTP Basic credentials for a reverse proxy in front
// of a ComfyUI without the patch. Without COMFYUI_URL it starts an
// in-process fake ComfyUI (package authtest) with a random key, and says so.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/comfyui"
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
	if os.Getenv("COMFYUI_URL") == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		key := hex.EncodeToString(b)
		fake := authtest.NewComfyUI(key, authtest.WithPrefix("/comfyui"))
		defer fake.Close()
		fmt.Printf("COMFYUI_URL is not set: using a built-in fake ComfyUI at %s\n", fake.URL)
		// Configure it exactly as a real deployment would be: through the
		// environment of this process.
		for _, v := range []string{"COMFYUI_API_KEY_FILE", "COMFYUI_USERNAME", "COMFYUI_PASSWORD", "COMFYUI_PASSWORD_FILE"} {
			os.Unsetenv(v) // only the fake's credentials
		}
		os.Setenv("COMFYUI_URL", fake.URL)
		os.Setenv("COMFYUI_API_KEY", key)
	}

	c, err := comfyui.NewFromEnv(authclient.WithUserAgent("authclient-example-comfyui/1.0"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	// /health needs no key (a proxy in front may still want its credentials).
	h, err := c.Core().Health(ctx) // a shared operation: on the core
	switch {
	case errors.Is(err, authclient.ErrNotFound):
		fmt.Println("health: no /health endpoint (ComfyUI without the API-key patch)")
	case err != nil:
		return explain(err)
	default:
		version := h.Version
		if version == "" {
			version = "unknown"
		}
		fmt.Printf("health: %s (version %s)\n", h.Status, version)
	}

	q, err := c.Queue(ctx) // a ComfyUI operation: on the typed client
	if err != nil {
		return explain(err)
	}
	fmt.Printf("queue: %d running, %d pending\n", len(q.Running), len(q.Pending))

	// /health answers 200 whatever key is sent: CheckAuth is the key check.
	if err := c.Core().CheckAuth(ctx); err != nil {
		return explain(err)
	}
	fmt.Println("key accepted")
	return nil
}

// explain adds what to check to a rejected credential.
func explain(err error) error {
	if errors.Is(err, authclient.ErrUnauthorized) {
		return fmt.Errorf("%w\ncheck COMFYUI_API_KEY (the key the server was started with), or COMFYUI_USERNAME and COMFYUI_PASSWORD for a proxy", err)
	}
	return err
}
