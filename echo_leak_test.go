package authclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/require"
)

// Secrets with every character an echo transforms: two spaces (white-space
// folding), HTML's <&"', and URL and Base64 specials.
const (
	echoPassword = `correct  horse <&"'> battery+/=%?`
	echoHeader   = `proxy  token <&"'> +/=%`
	echoCustom   = `vault  t0ken <&"'> +/=%`
	echoQuery    = `q-secret  <&"'> +/=%`
)

// echoScenario is one way a credential reaches the wire: the client, the
// paths the proxy echoes (with their status; 0 for the proxy's default),
// and the call that sends the credential there.
type echoScenario struct {
	name    string
	planted []string // the secrets given to the client; derived ones are read from the echoed requests
	setup   func(t *testing.T, logger *slog.Logger) (p *authtest.EchoProxy, c *Client, paths map[string]int, call func(*Client) error)
}

// TestEchoedCredentialsAreMaskedInEveryForm is the leak test for the class
// "a server or proxy echoes back what the client sent": for every kind of
// credential (given, derived by the client such as the Basic header, or
// received from the server such as session tokens, cookies, refresh tokens,
// PKCE state and verifier, sign-in codes, minted keys; WithHeader and
// Header values; whatever a custom Authenticator sets in a header, a query
// parameter or a cookie) an echoing proxy writes the whole request back in
// every place a server's answer can carry it (JSON message, error, detail,
// violations, error type; plain text; HTML pre, title, h1; Location path,
// query, fragment, another origin, userinfo) and in every transformed form
// (raw, HTML-escaped and numeric entities, JSON-escaped, URL-escaped with
// either case of hex, reflowed and folded white space). No secret, in any
// of those forms (nor a Basic header's decoded password), may appear in the
// error's text, any fmt verb, slog, encoding/json, its fields other than
// Body, or the client's log lines.
func TestEchoedCredentialsAreMaskedInEveryForm(t *testing.T) {
	t.Parallel()
	for si, sc := range echoScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime}))
			p, c, paths, call := sc.setup(t, logger)
			for ci, cs := range echoCases() {
				if raceEnabled && (ci+si)%3 != 0 {
					// Under -race every case runs for a third of the
					// credential kinds (each case, each kind, in turn), so
					// a -count=20 run fits go test's limit; .ci/run runs
					// the whole matrix without -race.
					continue
				}
				for path, status := range paths {
					p.EchoOn(path, status, cs.place, cs.tr)
				}
				logs.Reset()
				err := call(c)
				p.Forward()
				what := fmt.Sprintf("%s, echoed in %s, %s", sc.name, cs.place, cs.tr)
				require.Error(t, err, what)
				echoed := p.Echoed()
				require.NotEmpty(t, echoed, "%s: the proxy echoed nothing", what)
				secrets := append(sentSecrets(echoed), sc.planted...)
				assertMasked(t, what, err, logs.String(), secrets)
				if cs.place == authtest.EchoJSONMessage && cs.tr == authtest.EchoRaw {
					var e *Error
					if errors.As(err, &e) {
						require.Contains(t, e.Message, "REDACTED", "%s: the echo reached the message, masked", what)
					}
				}
			}
		})
	}
}

type echoCase struct {
	place authtest.EchoPlace
	tr    authtest.EchoTransform
}

// echoCases is every place with the raw echo, and every transformation in
// one place of each kind (JSON, plain text, HTML, Location).
func echoCases() []echoCase {
	var out []echoCase
	for _, p := range authtest.EchoPlaces {
		out = append(out, echoCase{p, authtest.EchoRaw})
	}
	for _, tr := range authtest.EchoTransforms[1:] {
		for _, p := range []authtest.EchoPlace{authtest.EchoJSONMessage, authtest.EchoPlainText, authtest.EchoHTMLPre, authtest.EchoLocationQuery} {
			out = append(out, echoCase{p, tr})
		}
	}
	return out
}

func echoScenarios() []echoScenario {
	post := func(c *Client) error { return c.Do(context.Background(), http.MethodPost, "echo", nil, nil, NoRetry()) }
	echoOnly := map[string]int{"/echo": 0}
	komgaWith := func(t *testing.T, logger *slog.Logger, opts ...Option) (*authtest.Komga, *authtest.EchoProxy, *Client) {
		k := authtest.NewKomga()
		t.Cleanup(k.Close)
		k.AddUser("admin@example.org", echoPassword, "ADMIN")
		p := authtest.NewEchoProxy(k.Server)
		t.Cleanup(p.Close)
		c := newTestClient(t, Komga, p.URL, append([]Option{WithLogger(logger), WithMaxRetries(0)}, opts...)...)
		return k, p, c
	}
	return []echoScenario{
		{name: "API key in a header (Komga X-API-Key)", setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			k := authtest.NewKomga()
			t.Cleanup(k.Close)
			k.AddUser("admin@example.org", "pw", "ADMIN")
			key := k.AddAPIKey("admin@example.org", "k")
			p := authtest.NewEchoProxy(k.Server)
			t.Cleanup(p.Close)
			return p, newTestClient(t, Komga, p.URL, WithAPIKey(key), WithLogger(l)), echoOnly, post
		}},
		{name: "API key as a bearer token (Audiobookshelf)", setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			a := authtest.NewAudiobookshelf()
			t.Cleanup(a.Close)
			a.AddUser("alice", "pw", "user")
			key := a.AddAPIKey("alice", "k", 0, true)
			p := authtest.NewEchoProxy(a.Server)
			t.Cleanup(p.Close)
			return p, newTestClient(t, Audiobookshelf, p.URL, WithAPIKey(key), WithLogger(l)), echoOnly, post
		}},
		{name: "API key in a query parameter of the caller's naming", planted: []string{echoQuery}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			cu := authtest.NewComfyUI("unused-key")
			t.Cleanup(cu.Close)
			p := authtest.NewEchoProxy(cu.Server)
			t.Cleanup(p.Close)
			return p, newTestClient(t, ComfyUI, p.URL, WithAuthenticator(APIKeyIn(InQuery("sig"), echoQuery)), WithLogger(l)), echoOnly, post
		}},
		{name: "HTTP Basic on every request (ComfyUI behind a proxy)", planted: []string{echoPassword}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			cu := authtest.NewComfyUI("")
			t.Cleanup(cu.Close)
			p := authtest.NewEchoProxy(cu.Server)
			t.Cleanup(p.Close)
			return p, newTestClient(t, ComfyUI, p.URL, WithLogin("admin", echoPassword), WithLogger(l)), echoOnly, post
		}},
		{name: "Komga sign-in: the Basic header derived from the password", planted: []string{echoPassword}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			_, p, c := komgaWith(t, l)
			return p, c, map[string]int{"/api/v2/users/me": 0}, func(c *Client) error {
				_, err := c.Login(context.Background(), "admin@example.org", echoPassword)
				return err
			}
		}},
		{name: "Komga session token from a lazy sign-in", planted: []string{echoPassword}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			_, p, c := komgaWith(t, l, WithLogin("admin@example.org", echoPassword), WithRememberMe())
			_, err := c.CurrentUser(context.Background())
			require.NoError(t, err)
			return p, c, echoOnly, post
		}},
		{name: "Komga remember-me cookie sent to sign in again", planted: []string{echoPassword}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			k, p, c := komgaWith(t, l, WithLogin("admin@example.org", echoPassword), WithRememberMe())
			_, err := c.CurrentUser(context.Background())
			require.NoError(t, err)
			require.NotEmpty(t, c.Session().RememberMe)
			return p, c, map[string]int{"/api/v2/users/me": 0}, func(c *Client) error {
				k.ExpireSessions() // the next call is refused; the client signs in again with the cookie
				return c.Do(context.Background(), http.MethodGet, "api/v1/libraries", nil, nil)
			}
		}},
		{name: "Komga session cookie from /api/v1/login/set-cookie (read with ResponseMeta)", planted: []string{echoPassword}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			_, p, c := komgaWith(t, l, WithLogin("admin@example.org", echoPassword))
			ck := komgaSessionCookie(t, c)
			return p, c, echoOnly, func(c *Client) error {
				return c.Do(context.Background(), http.MethodPost, "echo", nil, nil, Header("Cookie", ck.Name+"="+ck.Value))
			}
		}},
		{name: "Audiobookshelf password sign-in (JSON body)", planted: []string{echoPassword}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			a := authtest.NewAudiobookshelf()
			t.Cleanup(a.Close)
			a.AddUser("alice", echoPassword, "user")
			p := authtest.NewEchoProxy(a.Server)
			t.Cleanup(p.Close)
			c := newTestClient(t, Audiobookshelf, p.URL, WithLogger(l), WithMaxRetries(0))
			return p, c, map[string]int{"/login": 0}, func(c *Client) error {
				_, err := c.Login(context.Background(), "alice", echoPassword)
				return err
			}
		}},
		{name: "Audiobookshelf access token, then refresh token on renewal", planted: []string{echoPassword}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			a := authtest.NewAudiobookshelf()
			t.Cleanup(a.Close)
			a.AddUser("alice", echoPassword, "user")
			p := authtest.NewEchoProxy(a.Server)
			t.Cleanup(p.Close)
			c := newTestClient(t, Audiobookshelf, p.URL, WithLogin("alice", echoPassword), WithLogger(l), WithMaxRetries(0))
			_, err := c.CurrentUser(context.Background())
			require.NoError(t, err)
			require.NotEmpty(t, c.Session().RefreshToken)
			// The echo refuses the access token (401), so the client
			// refreshes, and that is echoed too.
			return p, c, map[string]int{"/echo": http.StatusUnauthorized, "/auth/refresh": http.StatusBadRequest}, post
		}},
		{name: "Audiobookshelf OpenID: state, PKCE verifier, code and flow cookies", setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			a := authtest.NewAudiobookshelf()
			t.Cleanup(a.Close)
			a.EnableOpenID("")
			p := authtest.NewEchoProxy(a.Server)
			t.Cleanup(p.Close)
			c := newTestClient(t, Audiobookshelf, p.URL, WithLogger(l), WithMaxRetries(0))
			f, err := absOpenIDStart(c)
			require.NoError(t, err)
			browser := &http.Client{Transport: testTransport, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
				if req.URL.Scheme != "http" {
					return http.ErrUseLastResponse
				}
				return nil
			}}
			resp, err := browser.Get(f.authURL)
			require.NoError(t, err)
			resp.Body.Close()
			callback, err := url.Parse(resp.Header.Get("Location"))
			require.NoError(t, err)
			require.Equal(t, "audiobookshelf", callback.Scheme)
			return p, c, map[string]int{"/auth/openid/callback": 0}, func(c *Client) error {
				return absOpenIDFinish(c, f, callback.Query().Get("code"))
			}
		}},
		{name: "Audiobookshelf OpenID start: the state", setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			a := authtest.NewAudiobookshelf()
			t.Cleanup(a.Close)
			a.EnableOpenID("")
			p := authtest.NewEchoProxy(a.Server)
			t.Cleanup(p.Close)
			c := newTestClient(t, Audiobookshelf, p.URL, WithLogger(l), WithMaxRetries(0))
			return p, c, map[string]int{"/auth/openid": 0}, func(c *Client) error {
				_, err := absOpenIDStart(c)
				return err
			}
		}},
		{name: "Khoj magic-link code", setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			k := authtest.NewKhoj()
			t.Cleanup(k.Close)
			p := authtest.NewEchoProxy(k.Server)
			t.Cleanup(p.Close)
			c := newTestClient(t, Khoj, p.URL, WithLogger(l), WithMaxRetries(0))
			require.NoError(t, c.Do(context.Background(), http.MethodPost, "auth/magic", map[string]string{"email": "me@example.org"}, nil, Unauthenticated(), NoRetry()))
			code := k.MagicCode("me@example.org")
			return p, c, map[string]int{"/auth/magic": 0}, func(c *Client) error {
				// As package khoj's VerifyMagicLink sends it; a redirect
				// without a session is its ErrNoSession, which quotes nothing.
				var m Meta
				err := c.Do(context.Background(), http.MethodGet, "auth/magic", nil, nil, Query(url.Values{"code": {code}, "email": {"me@example.org"}}),
					Secret(code), Unauthenticated(), NoRetry(), NoRedirect(), ResponseMeta(&m))
				if err == nil {
					err = errors.New("khoj: the code was accepted, but the answer is not a redirect with a usable session cookie")
				}
				return err
			}
		}},
		{name: "Khoj session cookie from a magic link", setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			k := authtest.NewKhoj()
			t.Cleanup(k.Close)
			p := authtest.NewEchoProxy(k.Server)
			t.Cleanup(p.Close)
			c := newTestClient(t, Khoj, p.URL, WithLogger(l), WithMaxRetries(0))
			khojMagicSignIn(t, c, k, "me@example.org")
			return p, c, echoOnly, post
		}},
		{name: "Khoj API token minted with a magic-link session (as khoj.BootstrapToken does)", setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			k := authtest.NewKhoj()
			t.Cleanup(k.Close)
			p := authtest.NewEchoProxy(k.Server)
			t.Cleanup(p.Close)
			c := newTestClient(t, Khoj, p.URL, WithLogger(l), WithMaxRetries(0))
			khojMagicSignIn(t, c, k, "me@example.org")
			tok, err := c.CreateAPIKey(context.Background(), CreateAPIKeyRequest{Name: "ci"})
			require.NoError(t, err)
			require.NoError(t, c.SetAuthenticator(APIKey(Khoj, tok.Secret)))
			return p, c, echoOnly, post
		}},
		{name: "WithHeader proxy service token", planted: []string{echoHeader}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			_, p, c := komgaWith(t, l, WithHeader("CF-Access-Client-Secret", echoHeader))
			return p, c, echoOnly, post
		}},
		{name: "Header call option", planted: []string{echoHeader}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			_, p, c := komgaWith(t, l)
			return p, c, echoOnly, func(c *Client) error {
				return c.Do(context.Background(), http.MethodPost, "echo", nil, nil, Header("X-Proxy-Token", echoHeader))
			}
		}},
		{name: "custom Authenticator setting a header", planted: []string{echoCustom}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			auth := AuthenticatorFunc(func(r *http.Request) error { r.Header.Set("X-Vault-Token", echoCustom); return nil })
			_, p, c := komgaWith(t, l, WithAuthenticator(auth))
			return p, c, echoOnly, post
		}},
		{name: "custom Authenticator setting an authorization scheme", planted: []string{"scheme-t0ken-9f8e"}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			auth := AuthenticatorFunc(func(r *http.Request) error { r.Header.Set("Authorization", "Token scheme-t0ken-9f8e"); return nil })
			_, p, c := komgaWith(t, l, WithAuthenticator(auth))
			return p, c, echoOnly, post
		}},
		{name: "custom Authenticator setting a query parameter", planted: []string{echoQuery}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			auth := AuthenticatorFunc(func(r *http.Request) error {
				q := r.URL.Query()
				q.Set("x-signature", echoQuery)
				r.URL.RawQuery = q.Encode()
				return nil
			})
			_, p, c := komgaWith(t, l, WithAuthenticator(auth))
			return p, c, echoOnly, post
		}},
		{name: "custom Authenticator setting a cookie", planted: []string{"c00kie-VALUE-x9z"}, setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			auth := AuthenticatorFunc(func(r *http.Request) error {
				r.AddCookie(&http.Cookie{Name: "sid", Value: "c00kie-VALUE-x9z"})
				return nil
			})
			_, p, c := komgaWith(t, l, WithAuthenticator(auth))
			return p, c, echoOnly, post
		}},
		{name: "custom Authenticator minting a token per request", setup: func(t *testing.T, l *slog.Logger) (*authtest.EchoProxy, *Client, map[string]int, func(*Client) error) {
			var n atomic.Int64
			auth := AuthenticatorFunc(func(r *http.Request) error {
				r.Header.Set("X-Request-Signature", fmt.Sprintf("sig-%d-a1b2c3d4e5", n.Add(1)))
				return nil
			})
			_, p, c := komgaWith(t, l, WithAuthenticator(auth))
			return p, c, echoOnly, post
		}},
	}
}

// publicHeaders and publicParams are what the client sends that is not a
// credential.
var (
	publicHeaders = map[string]bool{"Accept": true, "Accept-Encoding": true, "Content-Length": true, "Content-Type": true,
		"User-Agent": true, "X-Forwarded-For": true, "X-Return-Tokens": true, "X-Auth-Token": false}
	publicParams = map[string]bool{"email": true, "response_type": true, "redirect_uri": true, "code_challenge": true,
		"code_challenge_method": true, "remember-me": true}
)

// sentSecrets lists every credential the echoed requests carried: header
// values (and the credential after an authentication scheme, a Basic
// header's password, each cookie's value), query values and a JSON body's
// password.
func sentSecrets(reqs []authtest.EchoedRequest) []string {
	var out []string
	add := func(v string) {
		if len(v) >= 4 {
			out = append(out, v)
		}
	}
	for _, r := range reqs {
		for k, vs := range r.Header {
			if publicHeaders[k] {
				continue
			}
			for _, v := range vs {
				add(v)
				if scheme, rest, ok := strings.Cut(v, " "); ok {
					add(rest)
					if scheme == "Basic" {
						dec, err := base64.StdEncoding.DecodeString(rest)
						if err == nil {
							_, pw, _ := strings.Cut(string(dec), ":")
							add(pw)
						}
					}
				}
				if k == "Cookie" {
					for pair := range strings.SplitSeq(v, ";") {
						_, cv, _ := strings.Cut(pair, "=")
						add(strings.TrimSpace(cv))
					}
				}
			}
		}
		for k, vs := range r.URL.Query() {
			if !publicParams[k] {
				for _, v := range vs {
					add(v)
				}
			}
		}
		var body map[string]any
		if json.Unmarshal(r.Body, &body) == nil {
			if pw, ok := body["password"].(string); ok {
				add(pw)
			}
		}
	}
	return out
}

// assertMasked checks that no secret, in any form an echo gives it, shows
// in anything the error or the client prints.
func assertMasked(t *testing.T, what string, err error, clientLogs string, secrets []string) {
	t.Helper()
	var outs []string
	outs = append(outs, err.Error(), clientLogs)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outs = append(outs, fmt.Sprintf(verb, err), fmt.Sprintf(verb, fmt.Errorf("wrapped: %w", err)))
	}
	var e *Error
	if errors.As(err, &e) {
		outs = append(outs, e.URL, e.Code, e.Message, e.Hint, e.Location, e.Credential)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			outs = append(outs, fmt.Sprintf(verb, *e))
		}
	}
	var te *TransportError
	if errors.As(err, &te) {
		outs = append(outs, te.URL, te.Hint, te.Err.Error())
	}
	var logs bytes.Buffer
	noTime := &slog.HandlerOptions{ReplaceAttr: dropTime}
	slog.New(slog.NewJSONHandler(&logs, noTime)).Info("x", "err", err)
	slog.New(slog.NewTextHandler(&logs, noTime)).Info("x", "err", err)
	if e != nil {
		slog.New(slog.NewJSONHandler(&logs, noTime)).Info("x", "e", *e)
	}
	if b, jerr := json.Marshal(err); jerr == nil {
		outs = append(outs, string(b))
	}
	outs = append(outs, logs.String())
	for _, s := range secrets {
		forms := []string{s}
		for _, tr := range authtest.EchoTransforms {
			if f := tr.Apply(s); len(f) >= 4 {
				forms = append(forms, f)
			}
		}
		hexForm := hex.EncodeToString([]byte(s))
		for _, out := range outs {
			for _, f := range forms {
				if strings.Contains(out, f) {
					t.Errorf("%s: secret %q leaks as %q in:\n%s", what, s, f, out)
				}
			}
			if strings.Contains(strings.ToLower(out), hexForm) {
				t.Errorf("%s: secret %q leaks hex-encoded in:\n%s", what, s, out)
			}
		}
	}
}

// absFlow is an OpenID sign-in in progress, as package audiobookshelf's
// StartOpenIDLogin keeps it.
type absFlow struct {
	authURL, state, verifier, cookies string
	values                            []string
}

// absOpenIDStart starts Audiobookshelf's mobile OpenID flow with the calls
// package audiobookshelf's StartOpenIDLogin makes; a 3xx without the flow's
// cookie is an error that quotes nothing, as the package's is.
func absOpenIDStart(c *Client) (*absFlow, error) {
	f := &absFlow{state: "echo-state-" + strings.Repeat("s", 16), verifier: "echo-verifier-" + strings.Repeat("v", 32)}
	var m Meta
	err := c.Do(context.Background(), http.MethodGet, "auth/openid", nil, nil,
		Query(url.Values{"response_type": {"code"}, "redirect_uri": {"audiobookshelf://oauth"},
			"code_challenge": {"challenge-derived-from-the-verifier"}, "code_challenge_method": {"S256"}, "state": {f.state}}),
		Secret(f.state, f.verifier), Unauthenticated(), NoRetry(), NoRedirect(), ResponseMeta(&m))
	if err != nil {
		return nil, err
	}
	f.authURL = m.Header.Get("Location")
	var pairs []string
	for _, ck := range (&http.Response{Header: m.Header}).Cookies() {
		if ck.Value != "" && ck.MaxAge >= 0 {
			pairs = append(pairs, ck.Name+"="+ck.Value)
			f.values = append(f.values, ck.Value)
		}
	}
	if len(pairs) == 0 || f.authURL == "" {
		return nil, errors.New("audiobookshelf: the answer to /auth/openid is not a redirect with the flow's cookie")
	}
	f.cookies = strings.Join(pairs, "; ")
	return f, nil
}

// absOpenIDFinish exchanges the code with the calls package
// audiobookshelf's FinishOpenIDLogin makes.
func absOpenIDFinish(c *Client, f *absFlow, code string) error {
	var answer json.RawMessage
	err := c.Do(context.Background(), http.MethodGet, "auth/openid/callback", nil, &answer,
		Query(url.Values{"code": {code}, "state": {f.state}, "code_verifier": {f.verifier}}),
		Secret(code, f.state, f.verifier), Secret(f.values...), Header("Cookie", f.cookies), Unauthenticated(), NoRetry())
	if err != nil {
		return err
	}
	s, err := c.ParseSession(answer)
	if err != nil {
		return err
	}
	return c.UseSession(s)
}

// dropTime leaves slog's time stamp out of the logs searched for secrets:
// it is not the client's text, and its digits can hold a 6-digit
// magic-link code by chance (14:52:09.022306 held "022306").
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
