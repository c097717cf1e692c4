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

// A route the fake does not model, served behind the fake's own
// authentication: without the key, the caller gets ComfyUI's 401.
func ExampleServer_Handle() {
	comfy := authtest.NewComfyUI("comfy-key", authtest.WithPrefix("/comfyui"))
	defer comfy.Close()
	err := comfy.Handle(http.MethodGet, "/custom_nodes/:name/status", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"node":%q,"ok":true}`, r.PathValue("name"))
	}))
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	var out struct {
		Node string `json:"node"`
		OK   bool   `json:"ok"`
	}
	good, _ := authclient.New(authclient.ComfyUI, comfy.URL, authclient.WithAPIKey("comfy-key"))
	fmt.Println(good.Do(ctx, http.MethodGet, "custom_nodes/upscale/status", nil, &out), out.Node, out.OK)

	bad, _ := authclient.New(authclient.ComfyUI, comfy.URL, authclient.WithAPIKey("wrong-key"))
	err = bad.Do(ctx, http.MethodGet, "custom_nodes/upscale/status", nil, &out)
	fmt.Println(errors.Is(err, authclient.ErrUnauthorized))

	// The fake's own routes always win.
	fmt.Println(errors.Is(comfy.Handle(http.MethodGet, "/system_stats", http.NotFoundHandler()), authtest.ErrRouteTaken))
	// Output:
	// <nil> upscale true
	// true
	// true
}

// UserFrom tells a custom route's handler who is signed in.
func ExampleUserFrom() {
	komga := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer komga.Close()
	komga.AddUser("reader@example.org", "secret")
	_ = komga.Handle(http.MethodGet, "/api/v1/readlists", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := authtest.UserFrom(r.Context())
		fmt.Fprintf(w, `{"owner":%q}`, u.Name)
	}))

	c, _ := authclient.New(authclient.Komga, komga.URL, authclient.WithLogin("reader@example.org", "secret"))
	var out struct{ Owner string }
	fmt.Println(c.Do(context.Background(), http.MethodGet, "api/v1/readlists", nil, &out), out.Owner)
	// Output:
	// <nil> reader@example.org
}

// A fault scoped to one method and path prefix: the key listing fails
// once with a 503, which the client retries; other requests are untouched.
func ExampleFaults_FailNextMatching() {
	komga := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer komga.Close()
	komga.AddUser("admin@example.org", "secret", "ADMIN")
	c, _ := authclient.New(authclient.Komga, komga.URL, authclient.WithAPIKey(komga.AddAPIKey("admin@example.org", "ci")))

	komga.Faults.FailNextMatching(http.MethodGet, "/api/v2/users/me/api-keys", 1, http.StatusServiceUnavailable, 0)
	ctx := context.Background()
	fmt.Println(c.CheckAuth(ctx))
	keys, err := c.ListAPIKeys(ctx)
	fmt.Println(len(keys), err)
	fmt.Println(komga.Requests(http.MethodGet, "/api/v2/users/me/api-keys"))
	// Output:
	// <nil>
	// 1 <nil>
	// 2
}

// One clock for the fake and the client: advancing it makes the client
// refresh the Audiobookshelf token before it expires, without sleeping.
func ExampleWithClock_shared() {
	clock := authtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	abs := authtest.NewAudiobookshelf(authtest.WithPrefix("/audiobookshelf"), authtest.WithClock(clock))
	defer abs.Close()
	c, _ := authclient.New(authclient.Audiobookshelf, abs.URL, authclient.WithLogin("root", "root"),
		authclient.WithClock(clock.Now))

	ctx := context.Background()
	fmt.Println(c.CheckAuth(ctx), abs.Refreshes())
	clock.Advance(time.Hour - 10*time.Second) // the access token lives an hour
	fmt.Println(c.CheckAuth(ctx), abs.Refreshes())
	// Output:
	// <nil> 0
	// <nil> 1
}

// What the fake received, with credentials masked, for assertions.
func ExampleServer_Received() {
	khoj := authtest.NewKhoj(authtest.WithPrefix("/khoj"))
	defer khoj.Close()
	khoj.AddUser("me@example.org")
	c, _ := authclient.New(authclient.Khoj, khoj.URL, authclient.WithAPIKey(khoj.AddToken("me@example.org", "ci")))
	if _, err := c.CurrentUser(context.Background()); err != nil {
		log.Fatal(err)
	}

	for _, r := range khoj.Received() {
		fmt.Println(r.Method, r.Path, r.Header.Get("Authorization"), len(r.Body), r.BodyTruncated)
	}
	// Output:
	// GET /api/v1/user [MASKED] 0 false
}
