package authclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
)

// komgaFake starts a fake Komga with one account, as a real server would
// have, and returns it with an API key of that account.
func komgaFake() (*authtest.Komga, string) {
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	k.AddUser("admin@example.org", "secret", "ADMIN")
	return k, k.AddAPIKey("admin@example.org", "example")
}

func ExampleNew() {
	k, key := komgaFake()
	defer k.Close()

	// k.URL is like "http://127.0.0.1:41234/komga/": a server behind a proxy.
	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}
	me, err := c.CurrentUser(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Email, me.Admin)
	// Output: admin@example.org true
}

func ExampleNewFromEnv() {
	k, key := komgaFake()
	defer k.Close()
	os.Setenv("KOMGA_URL", k.URL)
	os.Setenv("KOMGA_API_KEY", key)
	defer os.Unsetenv("KOMGA_URL")
	defer os.Unsetenv("KOMGA_API_KEY")

	c, err := authclient.NewFromEnv(authclient.Komga)
	if err != nil {
		log.Fatal(err) // e.g. "authclient: KOMGA_URL: is not set (…)"
	}
	me, err := c.CurrentUser(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed in as", me.Email)
	// Output: signed in as admin@example.org
}

func ExampleClient_Login() {
	k, _ := komgaFake()
	defer k.Close()
	ctx := context.Background()

	c, err := authclient.New(authclient.Komga, k.URL)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Login(ctx, "admin@example.org", "secret"); err != nil {
		log.Fatal(err)
	}
	defer c.Logout(ctx)
	// Every call now reuses one session; if Komga drops it, the client
	// signs in again once.
	keys, err := c.ListAPIKeys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(keys), "key")
	// Output: 1 key
}

func ExampleClient_ListAPIKeys() {
	k, key := komgaFake()
	defer k.Close()
	ctx := context.Background()
	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}

	created, err := c.CreateAPIKey(ctx, authclient.CreateAPIKeyRequest{Name: "nightly backup"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", created.Name, len(created.Secret), "characters, shown once")
	keys, err := c.ListAPIKeys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, info := range keys {
		fmt.Println("key:", info.Name)
	}
	// Output:
	// created: nightly backup 32 characters, shown once
	// key: example
	// key: nightly backup
}

func ExampleClient_RotateAPIKey() {
	k, key := komgaFake()
	defer k.Close()
	ctx := context.Background()
	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}
	keys, err := c.ListAPIKeys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// Create a new key, check that it works, delete the old one. The
	// client itself switches to the new key.
	fresh, err := c.RotateAPIKey(ctx, keys[0].ID, authclient.CreateAPIKeyRequest{Name: "example v2"})
	if err != nil {
		log.Fatal(err)
	}
	// Store fresh.Secret in your secret manager here.
	keys, err = c.ListAPIKeys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(keys), keys[0].Name == fresh.Name)
	// Output: 1 true
}

func ExampleClient_Do() {
	k, key := komgaFake()
	defer k.Close()
	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}
	// Endpoints the SDK has no method for, with the same auth, retries and
	// errors. Paths are relative to the base URL.
	var claim struct {
		IsClaimed bool `json:"isClaimed"`
	}
	if err := c.Do(context.Background(), "GET", "api/v1/claim", nil, &claim); err != nil {
		log.Fatal(err)
	}
	fmt.Println("claimed:", claim.IsClaimed)
	// Output: claimed: true
}

func Example_errors() {
	k, _ := komgaFake()
	defer k.Close()
	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithLogin("admin@example.org", "wrong password"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.CurrentUser(context.Background())
	switch {
	case errors.Is(err, authclient.ErrUnauthorized):
		fmt.Println("credentials rejected")
	case errors.Is(err, authclient.ErrForbidden):
		fmt.Println("credentials fine, access denied")
	case errors.Is(err, errors.ErrUnsupported):
		fmt.Println("the server lacks this operation")
	case err != nil:
		var e *authclient.Error
		if errors.As(err, &e) {
			fmt.Println("server answered", e.StatusCode, e.Message)
		} else {
			fmt.Println("no answer:", err) // *authclient.TransportError
		}
	}
	// Output: credentials rejected
}

func ExampleClient_HTTPClient() {
	k, key := komgaFake()
	defer k.Close()
	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}

	// Another library (here plain net/http, as a generated client does)
	// builds its own requests; the client's credential goes with each.
	hc := c.HTTPClient()
	resp, err := hc.Get(c.BaseURL() + "api/v2/users/me")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	// Outside the base URL's path nothing is sent.
	_, err = hc.Get(strings.TrimSuffix(c.BaseURL(), "komga/") + "other-app/")
	fmt.Println(errors.Is(err, authclient.ErrInvalidPath))
	// Output:
	// 200
	// true
}

func ExampleWithMiddleware() {
	k, key := komgaFake()
	defer k.Close()

	// A layer that counts requests, as a metrics or tracing transport
	// (otelhttp.NewTransport) would.
	var requests atomic.Int64
	counting := func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			requests.Add(1)
			return next.RoundTrip(req)
		})
	}
	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key), authclient.WithMiddleware(counting))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.CurrentUser(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(requests.Load())
	// Output: 1
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func ExamplePaginate() {
	k, key := komgaFake()
	defer k.Close()
	k.AddSeries(5)

	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithAPIKey(key))
	if err != nil {
		log.Fatal(err)
	}
	type series struct {
		Name string `json:"name"`
	}
	// Pages of 2 are fetched as the loop asks for them: 3 requests here.
	for s, err := range authclient.Paginate[series](context.Background(), c, "api/v1/series", authclient.PageSize(2)) {
		if err != nil {
			log.Fatal(err) // the first failure ends the sequence
		}
		fmt.Println(s.Name)
	}
	fmt.Println(k.Requests("GET", "/api/v1/series"), "requests")
	// Output:
	// Series 00001
	// Series 00002
	// Series 00003
	// Series 00004
	// Series 00005
	// 3 requests
}

func ExampleServer_Supports() {
	for _, s := range []authclient.Server{authclient.Komga, authclient.ComfyUI} {
		fmt.Println(s, "API keys:", s.Supports(authclient.OpListAPIKeys))
	}

	// An unsupported call fails before anything is sent, and says why.
	c, err := authclient.New(authclient.ComfyUI, "http://127.0.0.1:8188/", authclient.WithAPIKey("comfy-key"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.ListAPIKeys(context.Background())
	var ue *authclient.UnsupportedError
	if errors.As(err, &ue) {
		fmt.Println(ue.Op, "on", ue.Server, "is unsupported:", errors.Is(err, errors.ErrUnsupported))
	}
	// Output:
	// komga API keys: true
	// comfyui API keys: false
	// ListAPIKeys on comfyui is unsupported: true
}

// A sign-in the client has no method for: its JSON answer, read with
// ParseSession, becomes the client's session, renewed like a password
// session.
func ExampleClient_UseSession() {
	srv := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	defer srv.Close()
	ctx := context.Background()

	c, err := authclient.New(authclient.Audiobookshelf, srv.BasePathURL())
	if err != nil {
		log.Fatal(err)
	}
	var answer json.RawMessage // here /login; in real life, say, an OpenID callback
	err = c.Do(ctx, http.MethodPost, "login", map[string]string{"username": "root", "password": "root"}, &answer,
		authclient.Unauthenticated(), authclient.NoRetry(), authclient.Header("x-return-tokens", "true"), authclient.Secret("root"))
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.ParseSession(answer)
	if err != nil {
		log.Fatal(err) // errors.Is(err, authclient.ErrUnexpectedServer): no access token
	}
	if err := c.UseSession(s); err != nil {
		log.Fatal(err)
	}
	me, err := c.CurrentUser(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Username, s.RefreshToken != "")
	// Output: root true
}
