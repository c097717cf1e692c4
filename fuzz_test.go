package authclient

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckResponse feeds arbitrary answers (status, headers, body) through
// the client's response handling: it must never panic, and the error text
// must stay one clean line.
func FuzzCheckResponse(f *testing.F) {
	f.Add(401, "application/json", "", "", `{"message":"Unauthorized"}`)
	f.Add(303, "text/html", "", "http://127.0.0.1/login?next=x", "")
	f.Add(302, "", "", "http://evil.example/x?token=t", "")
	f.Add(429, "application/json", "588", "", `{"error":"Too many authentication requests"}`)
	f.Add(200, "text/html", "", "", "<html>")
	f.Add(200, "application/json", "", "", `{"ok":`)
	f.Add(503, "application/json", "Wed, 21 Oct 2015 07:28:00 GMT", "", `{"status":"unhealthy","error":"x"}`)
	f.Add(307, "", "", "%zz", "")
	c, err := New(Komga, "http://127.0.0.1:1/komga/")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, ctype, retryAfter, location, body string) {
		if status < 100 || status > 999 {
			return
		}
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/komga/api/x?token=secret", nil)
		resp := &http.Response{
			StatusCode: status,
			Header:     http.Header{"Content-Type": {ctype}, "Retry-After": {retryAfter}, "Location": {location}},
			Body:       io.NopCloser(strings.NewReader(body)),
			Request:    req,
		}
		err := c.checkResponse(resp, req)
		if status >= 200 && status < 300 {
			if err != nil {
				t.Fatalf("2xx gave %v", err)
			}
			_ = expectJSON(resp) // must not panic either
			return
		}
		if err == nil {
			t.Fatalf("status %d gave no error", status)
		}
		msg := err.Error()
		if strings.ContainsAny(msg, "\r\n\x00") {
			t.Fatalf("control characters in %q", msg)
		}
		if strings.Contains(msg, "secret") && !strings.Contains(body+location, "secret") {
			t.Fatalf("the request's token leaked: %q", msg)
		}
	})
}

// FuzzDecodeJWT reads claims from arbitrary tokens: never a panic, and a
// token that decodes has a sane expiry.
func FuzzDecodeJWT(f *testing.F) {
	f.Add(fakeJWT(`{"userId":"u","type":"access","exp":1795345788}`))
	f.Add(fakeJWT(`{"keyId":"k","type":"api","iat":1}`))
	f.Add(fakeJWT(`{"exp":1e300}`))
	f.Add("a.b.c")
	f.Add("..")
	f.Add("not a jwt")
	f.Fuzz(func(t *testing.T, token string) {
		claims, ok := decodeJWT(token)
		if !ok {
			return
		}
		if exp := claims.expiry(); !exp.IsZero() && exp.Year() > 40000 {
			t.Fatalf("absurd expiry %v", exp)
		}
	})
}

// FuzzRedactURL checks that credential query values and userinfo never
// survive redaction, whatever the URL looks like.
func FuzzRedactURL(f *testing.F) {
	f.Add("http://h/p?token=SECRETVALUE&a=1")
	f.Add("http://u:SECRETVALUE@h/p")
	f.Add("http://h/p?api%5Fkey=SECRETVALUE")
	f.Add("http://h/p?Token=SECRETVALUE;x")
	f.Add("http://h/p?code=1&code=2&CODE")
	f.Add("http://h/login?next=http%3A%2F%2Fh%2Fauth%2Ftoken%3Ftoken%3DSECRETVALUE")
	f.Add("http://h/login?next=/a?next=%2Fb%3Fcode%3DSECRETVALUE")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return // the client only prints absolute request URLs
		}
		out := redactURL(u)
		ru, err := url.Parse(out)
		if err != nil {
			t.Fatalf("redacted URL %q does not parse: %v", out, err)
		}
		if ru.User != nil {
			t.Fatalf("userinfo survived in %q", out)
		}
		checkRedactedQuery(t, ru.Query(), out, 0)
	})
}

// checkRedactedQuery fails if a credential value survived in q, or in the
// query of a URL held in one of q's values (as far as redactQuery looks).
func checkRedactedQuery(t *testing.T, q url.Values, out string, depth int) {
	for k, vs := range q {
		for _, v := range vs {
			if credentialParams[strings.ToLower(k)] {
				if v != "REDACTED" && v != "" {
					t.Fatalf("credential %s=%q survived in %q", k, v, out)
				}
				continue
			}
			if _, nested, ok := strings.Cut(v, "?"); ok && depth < maxNestedURLs {
				if nq, err := url.ParseQuery(nested); err == nil {
					checkRedactedQuery(t, nq, out, depth+1)
				}
			}
		}
	}
}
