package authclient

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoBody answers every request with status 400 and the body body(r).
func echoBody(t *testing.T, ctype string, body func(r *http.Request) string) string {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(body(r)))
	})
	return srv.URL
}

func jsonMessage(s string) string {
	b, _ := json.Marshal(map[string]string{"message": s})
	return string(b)
}

// errorText is everything an *Error prints, fields included.
func errorText(err error) string {
	var e *Error
	if ok := asError(err, &e); !ok {
		return err.Error()
	}
	return strings.Join([]string{err.Error(), fmt.Sprintf("%#v", err), e.Message, e.Code, e.URL, e.Location, e.Hint}, "\n")
}

func asError(err error, e **Error) bool {
	x, ok := err.(*Error)
	*e = x
	return ok
}

// TestMaskingRunsBeforeWhiteSpaceFolding covers the class "the cleaning
// step changes a secret's white space": a secret with runs of spaces or
// tabs, echoed as it is, folded, reflowed over lines or with CR LF, in a
// JSON message or plain text, is masked (today's order, folding first, let
// "correct horse" through).
func TestMaskingRunsBeforeWhiteSpaceFolding(t *testing.T) {
	t.Parallel()
	secrets := []string{"correct  horse battery", "tab\t\tseparated secret", "three   spaces\there"}
	echoes := map[string]func(string) string{
		"raw":      func(s string) string { return s },
		"folded":   func(s string) string { return strings.Join(strings.Fields(s), " ") },
		"reflowed": func(s string) string { return strings.Join(strings.Fields(s), "\n\t") },
		"CRLF":     func(s string) string { return strings.Join(strings.Fields(s), "\r\n") },
	}
	for _, secret := range secrets {
		for name, echo := range echoes {
			for _, ctype := range []string{"application/json", "text/plain"} {
				u := echoBody(t, ctype, func(*http.Request) string {
					if ctype == "text/plain" {
						return "rejected: " + echo(secret) + " (end)"
					}
					return jsonMessage("rejected: " + echo(secret) + " (end)")
				})
				c := newTestClient(t, Komga, u, WithHeader("X-Proxy-Token", secret), WithMaxRetries(0))
				err := c.Do(t.Context(), http.MethodGet, "x", nil, nil)
				require.Error(t, err)
				out := errorText(err)
				for _, form := range []string{secret, strings.Join(strings.Fields(secret), " ")} {
					assert.NotContains(t, out, form, "%q echoed %s in %s", secret, name, ctype)
				}
				assert.Contains(t, out, "rejected: REDACTED (end)", "%q echoed %s in %s", secret, name, ctype)
			}
		}
	}
}

// TestCutCredentialsAreMasked covers the class "a secret cut in two by a
// truncation": the visible start must not show, whoever cut it (the
// 300-byte message bound of Error, the client's bound on a message,
// or a server that shortens what it echoes, with "…", "..." or at the end
// of its message).
func TestCutCredentialsAreMasked(t *testing.T) {
	t.Parallel()
	const secret = "K3y-0f-the-proxy-1234567890abcdef"
	cases := map[string]string{
		"at Error's 300-byte bound":          strings.Repeat("a", 290) + secret,
		"at the client's bound on a message": strings.Repeat("b ", 2*maxMessage-5) + secret,
		"by the server with an ellipsis":     "invalid token " + secret[:12] + "… rejected",
		"by the server with three dots":      "invalid token " + secret[:6] + "... rejected",
		"by the server at the end":           "invalid token " + secret[:10],
	}
	for name, msg := range cases {
		u := echoBody(t, "application/json", func(*http.Request) string { return jsonMessage(msg) })
		c := newTestClient(t, Komga, u, WithHeader("X-Proxy-Token", secret), WithMaxRetries(0))
		err := c.Do(t.Context(), http.MethodGet, "x", nil, nil)
		require.Error(t, err)
		out := errorText(err)
		for _, n := range []int{6, 10, 12} {
			assert.NotContains(t, out, secret[:n], "%s: a start of the secret shows", name)
		}
	}
}

// TestNestedEscapingIsMasked covers the class "an echo escapes a secret
// more than once, or in a way no registered form foresaw": HTML entities
// of a JSON string, of a URL-escaped value, numeric entities in hex,
// percent escapes twice over or in lower case, JSON \u escapes of every
// character.
func TestNestedEscapingIsMasked(t *testing.T) {
	t.Parallel()
	const secret = `s3cr3t <&"'> +/=% value`
	jsonEsc := func(s string) string { b, _ := json.Marshal(s); return string(b[1 : len(b)-1]) }
	allU := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		return b.String()
	}
	hexEntities := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			fmt.Fprintf(&b, "&#x%X;", r)
		}
		return b.String()
	}
	echoes := map[string]string{
		"HTML of JSON":              html.EscapeString(jsonEsc(secret)),
		"HTML of a query escape":    html.EscapeString(url.QueryEscape(secret)),
		"JSON of a query escape":    jsonEsc(url.QueryEscape(secret)),
		"query escape twice":        url.QueryEscape(url.QueryEscape(secret)),
		"lower-case percent":        strings.ToLower(url.PathEscape(secret)),
		"hex entities":              hexEntities(secret),
		"JSON \\u for every rune":   allU(secret),
		"path escape of HTML":       url.PathEscape(html.EscapeString(secret)),
		"HTML of a folded reflow":   html.EscapeString(strings.Join(strings.Fields(secret), "\n")),
		"HTML named quote entities": strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(secret),
	}
	for name, echo := range echoes {
		u := echoBody(t, "text/plain", func(*http.Request) string { return "echo: " + echo })
		c := newTestClient(t, Komga, u, WithHeader("X-Proxy-Token", secret), WithMaxRetries(0))
		err := c.Do(t.Context(), http.MethodGet, "x", nil, nil)
		require.Error(t, err)
		out := errorText(err)
		assert.NotContains(t, out, echo, name)
		assert.NotContains(t, out, "s3cr3t", name)
		assert.Contains(t, out, "REDACTED", name)
	}
}

// TestCustomAuthenticatorCredentialsStayMasked covers the bounded set of
// collected credentials: the header a custom Authenticator sends on every
// call stays masked however many one-off values another header mints
// (many more than the bound), and the newest one-off value is masked too.
func TestCustomAuthenticatorCredentialsStayMasked(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	auth := AuthenticatorFunc(func(r *http.Request) error {
		r.Header.Set("X-Static-Token", "static-t0ken-for-every-call")
		r.Header.Set("X-Nonce", fmt.Sprintf("nonce-%04d-zz", n.Add(1)))
		return nil
	})
	var fail atomic.Bool
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if !fail.Load() {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{}`))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("echo " + r.Header.Get("X-Static-Token") + " " + r.Header.Get("X-Nonce")))
	})
	c := newTestClient(t, Komga, srv.URL, WithAuthenticator(auth), WithMaxRetries(0))
	for range 3 * maxSecrets {
		require.NoError(t, c.Do(t.Context(), http.MethodGet, "x", nil, nil))
	}
	fail.Store(true)
	err := c.Do(t.Context(), http.MethodGet, "x", nil, nil)
	require.Error(t, err)
	out := errorText(err)
	assert.NotContains(t, out, "static-t0ken")
	assert.NotContains(t, out, "nonce-")
	assert.Contains(t, out, "echo REDACTED REDACTED")
}

// TestShortSecretsAreNotMasked pins the documented limit: a credential
// under 4 bytes is not masked (masking it would garble ordinary words).
func TestShortSecretsAreNotMasked(t *testing.T) {
	t.Parallel()
	u := echoBody(t, "text/plain", func(r *http.Request) string { return "the abc of it: " + r.Header.Get("X-Short") })
	c := newTestClient(t, Komga, u, WithHeader("X-Short", "abc"), WithMaxRetries(0))
	err := c.Do(t.Context(), http.MethodGet, "x", nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the abc of it: abc")
}
