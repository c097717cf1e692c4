package authclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A cookie a server sets is a credential the caller may read (ResponseMeta,
// a NoRedirect 3xx, Stream): the core masks its value from the moment it
// arrives. The class: every kind of answer that can carry Set-Cookie (a
// 2xx through Do, with and without ResponseMeta, a 204, a 3xx of a
// NoRedirect call, an error answer, a Stream), several cookies at once, and
// each echoed later in another call's error (as it is, URL-escaped, in
// JSON).
func TestSetCookieValuesAreMasked(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("set"); v != "" {
			w.Header().Add("Set-Cookie", "a="+v+"; Path=/; HttpOnly")
			w.Header().Add("Set-Cookie", "b="+v+"-second; Path=/")
		}
		switch r.URL.Path {
		case "/ok":
			_, _ = io.WriteString(w, "{}")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/redirect":
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
		case "/fail":
			w.WriteHeader(http.StatusConflict)
		case "/echo":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			v := r.URL.Query().Get("v")
			_, _ = io.WriteString(w, `{"message": "got `+v+` and `+url.QueryEscape(v)+`-second"}`)
		}
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Komga, srv.URL, WithMaxRetries(0))
	var m Meta
	for name, call := range map[string]func(q url.Values) error{
		"Do": func(q url.Values) error { return c.Do(t.Context(), "GET", "ok", nil, nil, Query(q)) },
		"Do ResponseMeta": func(q url.Values) error {
			return c.Do(t.Context(), "GET", "empty", nil, nil, Query(q), ResponseMeta(&m))
		},
		"NoRedirect": func(q url.Values) error {
			return c.Do(t.Context(), "GET", "redirect", nil, nil, Query(q), NoRedirect())
		},
		"error answer": func(q url.Values) error {
			_ = c.Do(t.Context(), "GET", "fail", nil, nil, Query(q))
			return nil
		},
		"Stream": func(q url.Values) error {
			resp, err := c.Stream(t.Context(), "GET", "ok", nil, Query(q))
			if err == nil {
				resp.Body.Close()
			}
			return err
		},
	} {
		value := "cookie/" + name + "+value=1"
		require.NoError(t, call(url.Values{"set": {value}}), name)
		err := c.Do(t.Context(), "GET", "echo", nil, nil, Query(url.Values{"v": {value}}))
		var e *Error
		require.ErrorAs(t, err, &e, name)
		assert.Equal(t, http.StatusBadRequest, e.StatusCode, name)
		assert.Contains(t, err.Error(), "got ", name)
		for _, form := range []string{value, url.QueryEscape(value), value + "-second"} {
			assert.NotContains(t, err.Error(), form, name)
		}
	}
}
