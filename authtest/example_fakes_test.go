package authtest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
)

// Each fake is an httptest server that speaks one server's wire dialect,
// mounted under a path prefix as behind a reverse proxy.
func Example() {
	komga := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer komga.Close()
	komga.AddUser("admin@example.org", "secret", "ADMIN")

	abs := authtest.NewAudiobookshelf(authtest.WithPrefix("/audiobookshelf")) // has root/root
	defer abs.Close()

	comfy := authtest.NewComfyUI("comfy-key", authtest.WithPrefix("/comfyui"))
	defer comfy.Close()

	khoj := authtest.NewKhoj(authtest.WithPrefix("/khoj"))
	defer khoj.Close()
	khoj.AddUser("me@example.org")

	ctx := context.Background()
	for _, c := range []struct {
		server authclient.Server
		url    string
		opt    authclient.Option
	}{
		{authclient.Komga, komga.URL, authclient.WithAPIKey(komga.AddAPIKey("admin@example.org", "test"))},
		{authclient.Audiobookshelf, abs.URL, authclient.WithLogin("root", "root")},
		{authclient.ComfyUI, comfy.URL, authclient.WithAPIKey("comfy-key")},
		{authclient.Khoj, khoj.URL, authclient.WithAPIKey(khoj.AddToken("me@example.org", "test"))},
	} {
		client, err := authclient.New(c.server, c.url, c.opt)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.server, client.CheckAuth(ctx))
	}
	// Output:
	// komga <nil>
	// audiobookshelf <nil>
	// comfyui <nil>
	// khoj <nil>
}

// Faults make a fake fail the way servers and proxies do: here two 503s
// with a Retry-After, which the client waits out and retries.
func ExampleFaults_FailNext() {
	komga := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer komga.Close()
	komga.AddUser("admin@example.org", "secret", "ADMIN")
	key := komga.AddAPIKey("admin@example.org", "test")

	komga.Faults.FailNext(2, http.StatusServiceUnavailable, 0) // Retry-After: 0
	c, err := authclient.New(authclient.Komga, komga.URL, authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}
	me, err := c.CurrentUser(context.Background())
	fmt.Println(me.Email, err, komga.Requests("GET", "/api/v2/users/me"))

	// Without retries the fault is the answer, as a typed error.
	once, err := authclient.New(authclient.Komga, komga.URL, authclient.WithAPIKey(key), authclient.WithMaxRetries(0))
	if err != nil {
		log.Fatal(err)
	}
	komga.Faults.FailNext(1, http.StatusServiceUnavailable, 0)
	_, err = once.CurrentUser(context.Background())
	fmt.Println(errors.Is(err, authclient.ErrUnavailable))
	// Output:
	// admin@example.org <nil> 3
	// true
}

// A Clock makes a fake's time yours: sessions and keys expire when the
// test says, without sleeping.
func ExampleClock() {
	clock := authtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	abs := authtest.NewAudiobookshelf(authtest.WithPrefix("/audiobookshelf"), authtest.WithClock(clock))
	defer abs.Close()
	key := abs.AddAPIKey("root", "ci", time.Hour, true) // expires in an hour, by the fake's clock

	c, err := authclient.New(authclient.Audiobookshelf, abs.URL, authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	fmt.Println("now:", c.CheckAuth(ctx) == nil)
	clock.Advance(2 * time.Hour)
	fmt.Println("two hours later:", errors.Is(c.CheckAuth(ctx), authclient.ErrUnauthorized))
	// Output:
	// now: true
	// two hours later: true
}
