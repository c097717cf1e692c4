package authclient

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ErrorCode names an answer a server sends without a code, from its status
// and body, and changes nothing else: the class is every failed answer
// (4xx and 5xx, with and without a body of the server's own code), a
// function that returns "" (the server's code stays), a code holding a
// credential (masked) or several lines (folded), and a nil function
// (*ConfigError, nothing sent).
func TestErrorCodeNamesAnAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := strconv.Atoi(r.URL.Query().Get("status"))
		if r.URL.Query().Get("coded") != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(st)
			_, _ = w.Write([]byte(`{"code": "SERVER_CODE", "message": "m"}`))
			return
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(srv.Close)
	const key = "the-secret-api-key-0123"
	c := newTestClient(t, Komga, srv.URL, WithAPIKey(key), WithMaxRetries(0))
	name := func(st int, body []byte) string {
		switch st {
		case 401:
			return "wrong_code"
		case 403:
			return "has " + key
		case 500:
			return "two\nlines"
		}
		return ""
	}
	for _, tt := range []struct {
		status   int
		coded    bool
		want     string
		category error
	}{
		{401, false, "wrong_code", ErrUnauthorized},
		{403, false, "has REDACTED", ErrForbidden},
		{500, false, "two lines", ErrServer},
		{404, false, "", ErrNotFound},
		{404, true, "", ErrNotFound},
	} {
		q := url.Values{"status": {strconv.Itoa(tt.status)}}
		if tt.coded {
			q["coded"] = []string{"1"}
		}
		err := c.Do(t.Context(), "GET", "x", nil, nil, Query(q), ErrorCode(name))
		require.ErrorIs(t, err, tt.category, tt.status)
		var e *Error
		require.ErrorAs(t, err, &e)
		if tt.coded {
			plain := c.Do(t.Context(), "GET", "x", nil, nil, Query(q))
			var pe *Error
			require.ErrorAs(t, plain, &pe)
			assert.Equal(t, pe.Code, e.Code, "the code the core read stays")
		} else {
			assert.Equal(t, tt.want, e.Code, tt.status)
		}
		assert.NotContains(t, err.Error(), key)
	}
	err := c.Do(t.Context(), "GET", "x", nil, nil, ErrorCode(nil))
	var ce *ConfigError
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, "ErrorCode", ce.Setting)
}
