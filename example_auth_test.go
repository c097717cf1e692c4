package authclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"

	"github.com/jarcoal/httpmock"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
)

// An API key goes where the server reads it; APIKeyIn places it anywhere
// else: ComfyUI's patch reads Authorization: Bearer, X-API-Key or
// ?api_key=, one of them per request.
func ExampleAPIKeyIn() {
	comfy := authtest.NewComfyUI("comfy-key", authtest.WithPrefix("/comfyui"))
	defer comfy.Close()

	for _, p := range []authclient.Placement{
		authclient.AsBearer(),
		authclient.InHeader("X-API-Key"),
		authclient.InQuery("api_key"),
	} {
		c, err := authclient.New(authclient.ComfyUI, comfy.URL,
			authclient.WithAuthenticator(authclient.APIKeyIn(p, "comfy-key")))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(p, "accepted:", c.CheckAuth(context.Background()) == nil)
	}
	// Output:
	// Authorization: Bearer accepted: true
	// header X-API-Key accepted: true
	// query parameter api_key accepted: true
}

// BasicAuth sends a username and password on every request: Komga
// accepts it as it is, and so does a reverse proxy in front of ComfyUI.
func ExampleBasicAuth() {
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer k.Close()
	k.AddUser("admin@example.org", "secret", "ADMIN")

	c, err := authclient.New(authclient.Komga, k.URL,
		authclient.WithAuthenticator(authclient.BasicAuth("admin@example.org", "secret")))
	if err != nil {
		log.Fatal(err)
	}
	me, err := c.CurrentUser(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Email)
	// Output: admin@example.org
}

// A session survives a restart of the program: save it (it marshals to
// JSON; it holds tokens, so store it like a password) and restore it with
// WithSession, and the client signs in no more.
func ExampleWithSession() {
	abs := authtest.NewAudiobookshelf(authtest.WithPrefix("/audiobookshelf"))
	defer abs.Close()
	ctx := context.Background()

	first, err := authclient.New(authclient.Audiobookshelf, abs.URL, authclient.WithLogin("root", "root"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := first.CurrentUser(ctx); err != nil { // signs in lazily
		log.Fatal(err)
	}
	saved, err := json.Marshal(first.Session())
	if err != nil {
		log.Fatal(err)
	}

	// Later, in another process:
	var s authclient.Session
	if err := json.Unmarshal(saved, &s); err != nil {
		log.Fatal(err)
	}
	second, err := authclient.New(authclient.Audiobookshelf, abs.URL,
		authclient.WithSession(&s), authclient.WithLogin("root", "root")) // the password only if the session cannot be renewed
	if err != nil {
		log.Fatal(err)
	}
	me, err := second.CurrentUser(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Username, "sign-ins:", abs.Logins())
	// Output: root sign-ins: 1
}

// SessionCookie uses a session a browser already has: Khoj's "session"
// cookie, or Komga's KOMGA-SESSION.
func ExampleSessionCookie() {
	k := authtest.NewKhoj(authtest.WithPrefix("/khoj"))
	defer k.Close()
	k.AddUser("me@example.org")
	cookie := k.SessionCookie("me@example.org") // what a browser's sign-in left

	c, err := authclient.New(authclient.Khoj, k.URL,
		authclient.WithAuthenticator(authclient.SessionCookie(authclient.Khoj, cookie.Value)))
	if err != nil {
		log.Fatal(err)
	}
	me, err := c.CurrentUser(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Email)
	// Output: me@example.org
}

// An AuthenticatorFunc adds a credential of your own, here the service
// token of a proxy in front of the server. Whatever it sets is masked in
// errors and logs like the client's own credentials.
func ExampleAuthenticatorFunc() {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Proxy-Token") != "proxy-token" {
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer proxy.Close()

	token := os.Getenv("EXAMPLE_PROXY_TOKEN") // from a secret store, in real use
	if token == "" {
		token = "proxy-token"
	}
	c, err := authclient.New(authclient.ComfyUI, proxy.URL,
		authclient.WithAuthenticator(authclient.AuthenticatorFunc(func(req *http.Request) error {
			req.Header.Set("X-Proxy-Token", token)
			return nil
		})))
	if err != nil {
		log.Fatal(err)
	}
	var out struct{ Status string }
	if err := c.Do(context.Background(), "GET", "health", nil, &out); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Status)
	// Output: ok
}

// refreshingToken is an authenticator that can renew its credential: the
// client calls Reauthenticate once when the server rejects a request, and
// replays it.
type refreshingToken struct {
	mu      sync.Mutex
	token   string
	refresh func() string // asks an identity provider, in real use
}

func (a *refreshingToken) Authenticate(req *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	req.Header.Set("Authorization", "Bearer "+a.token)
	return nil
}

func (a *refreshingToken) Reauthenticate(_ context.Context, rejected *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if rejected.Header.Get("Authorization") == "Bearer "+a.token { // not renewed by another goroutine yet
		a.token = a.refresh()
	}
	return nil
}

func ExampleReauthenticator() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer fresh" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer srv.Close()

	auth := &refreshingToken{token: "stale", refresh: func() string { return "fresh" }}
	c, err := authclient.New(authclient.ComfyUI, srv.URL, authclient.WithAuthenticator(auth))
	if err != nil {
		log.Fatal(err)
	}
	var out struct{ Status string }
	err = c.Do(context.Background(), "GET", "health", nil, &out)
	fmt.Println(out.Status, err)
	// Output: ok <nil>
}

// With httpmock, give the client a private mock transport: safe with
// t.Parallel(), and the client's guards (origin, redirects, masking) run
// as they would against a server.
func Example_httpmock() {
	mock := httpmock.NewMockTransport()
	mock.RegisterResponder("GET", "https://komga.example/api/v2/users/me",
		httpmock.NewStringResponder(200, `{"id":"1","email":"me@example.org","roles":["USER"]}`))

	c, err := authclient.New(authclient.Komga, "https://komga.example/",
		authclient.WithAPIKey("komga-key"),
		authclient.WithHTTPClient(&http.Client{Transport: mock}))
	if err != nil {
		log.Fatal(err)
	}
	me, err := c.CurrentUser(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Email, mock.GetTotalCallCount())
	// Output: me@example.org 1
}

// WithLogger logs each attempt and answer through slog, with URLs
// redacted and credentials masked; nothing is logged without it.
func ExampleWithLogger() {
	mock := httpmock.NewMockTransport()
	mock.RegisterResponder("GET", `=~^https://komga\.example/api/v1/series`,
		httpmock.NewStringResponder(401, `{"message":"no"}`))
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // for a stable output
			}
			return a
		},
	}))
	c, err := authclient.New(authclient.Komga, "https://komga.example/",
		authclient.WithAPIKey("komga-key"),
		authclient.WithHTTPClient(&http.Client{Transport: mock}),
		authclient.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	err = c.Do(context.Background(), "GET", "api/v1/series?token=leaked-token", nil, nil)
	fmt.Println(err)
	// Output:
	// level=DEBUG msg="authclient request" server=komga method=GET url="https://komga.example/api/v1/series?token=REDACTED" attempt=1
	// level=WARN msg="authclient response" server=komga method=GET url="https://komga.example/api/v1/series?token=REDACTED" status=401
	// authclient: komga: GET https://komga.example/api/v1/series?token=REDACTED: 401 Unauthorized: no (the API key was rejected: it may have been deleted, or the server may be older than Komga 1.20 (X-API-Key support))
}
