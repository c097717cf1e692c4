package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// agreeCase is one request every contestant makes, with what the server
// must see and what the contestant must hand back.
type agreeCase struct {
	name                string
	respond             func(n int64) *canned
	method, path, query string
	body                []byte // nil: no body; JSON bodies are compared as JSON values
	rawBody             bool   // compare the body byte for byte
	call                func(ctx context.Context, c client) (any, error)
	want                any // the typed result; nil for a call that decodes nothing
	status              int // > 0: the call must fail with a typed error carrying it
}

// The other typed errors of the agreement test (the benchmarks use 401).
var (
	answer403 = jsonAnswer(http.StatusForbidden, []byte(`{"timestamp":"2025-11-23T02:27:00.000+00:00","status":403,"error":"Forbidden","message":"Access Denied","path":"/api/v1/series"}`))
	answer404 = jsonAnswer(http.StatusNotFound, []byte(`{"timestamp":"2025-11-23T02:27:00.000+00:00","status":404,"error":"Not Found","message":"Not Found","path":"/api/v1/series"}`))
)

func agreeCases(t *testing.T) []agreeCase {
	var page, list Page
	var coll Collection
	for _, u := range []struct {
		data []byte
		into any
	}{{smallPage, &page}, {listPage, &list}, {collResp, &coll}} {
		if err := json.Unmarshal(u.data, u.into); err != nil {
			t.Fatal(err)
		}
	}
	get := func(ctx context.Context, c client) (any, error) {
		var p Page
		err := c.Get(ctx, seriesPath, &p)
		return p, err
	}
	return []agreeCase{
		{name: "GetSmall", respond: always(&answerSmall), method: "GET", path: "/" + seriesPath, call: get, want: page},
		{name: "GetChunked", respond: always(&answerList), method: "GET", path: "/" + seriesPath, call: get, want: list},
		{name: "GetQuery", respond: always(&answerSmall), method: "GET", path: "/" + seriesPath, query: benchRawQuery,
			call: func(ctx context.Context, c client) (any, error) {
				var p Page
				err := c.GetQuery(ctx, seriesPath, benchQuery, &p)
				return p, err
			}, want: page},
		{name: "PostJSON", respond: always(&answerColl), method: "POST", path: "/" + collectionsPath, body: mustMarshal(collReq),
			call: func(ctx context.Context, c client) (any, error) {
				var out Collection
				err := c.PostJSON(ctx, collectionsPath, collReq, &out)
				return out, err
			}, want: coll},
		{name: "Post1MiB", respond: always(&answerAccepted), method: "POST", path: "/" + importPath, body: bigBody, rawBody: true,
			call: func(ctx context.Context, c client) (any, error) {
				return nil, c.PostBytes(ctx, importPath, bigBody, nil)
			}},
		{name: "Error401", respond: always(&answer401), method: "GET", path: "/" + seriesPath, call: get, status: 401},
		{name: "Error403", respond: always(&answer403), method: "GET", path: "/" + seriesPath, call: get, status: 403},
		{name: "Error404", respond: always(&answer404), method: "GET", path: "/" + seriesPath, call: get, status: 404},
	}
}

// TestAllContestantsAgree makes each request once with every contestant,
// the peers included, in both modes, and checks that the server saw the
// same request from each (method, path, query, credential, Accept,
// Content-Type, body) and that each handed back the same typed result: the
// same decoded value, or a typed error with the same status (401, 403,
// 404) that says nothing of the key. So the benchmarks compare like with like.
func TestAllContestantsAgree(t *testing.T) {
	for _, ac := range agreeCases(t) {
		for _, mode := range []string{inmem, loopback} {
			for _, ct := range allContestants() {
				t.Run(ac.name+"/"+mode+"/"+ct.name, func(t *testing.T) {
					before := runtime.NumGoroutine()
					f := newFixture(t, mode, ac.respond)
					f.startInspecting()
					c := ct.new(t, f, nil)
					got, err := ac.call(context.Background(), c)
					checkResult(t, ac, got, err, c)
					log := f.seenLog()
					if len(log) != 1 {
						t.Fatalf("server saw %d requests, want 1", len(log))
					}
					checkSeen(t, ac, ct.name, log[0])
					f.close()
					checkGoroutines(t, before)
				})
			}
		}
	}
}

func checkResult(t *testing.T, ac agreeCase, got any, err error, c client) {
	t.Helper()
	if ac.status > 0 {
		if err == nil {
			t.Fatalf("no error, want a typed %d error", ac.status)
		}
		if s := c.ErrorStatus(err); s != ac.status {
			t.Errorf("typed error status %d (%T: %v), want %d", s, err, err, ac.status)
		}
		if got, want := c.IsUnauthorized(err), ac.status == 401; got != want {
			t.Errorf("IsUnauthorized(%v) = %v, want %v", err, got, want)
		}
		if strings.Contains(err.Error(), apiKey) {
			t.Errorf("the error shows the API key: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ac.want) {
		t.Errorf("decoded %+v, want %+v", got, ac.want)
	}
}

func checkSeen(t *testing.T, ac agreeCase, name string, s seen) {
	t.Helper()
	if s.method != ac.method || s.path != ac.path || s.query != ac.query {
		t.Errorf("request %s %s?%s, want %s %s?%s", s.method, s.path, s.query, ac.method, ac.path, ac.query)
	}
	// The credential: exactly one, carrying the key (or the session).
	switch name {
	case "sdk-session":
		if s.cookie != "KOMGA-SESSION="+sessionValue || s.apiKey != "" || s.authorization != "" {
			t.Errorf("session contestant sent Cookie %q, X-API-Key %q, Authorization %q", s.cookie, s.apiKey, s.authorization)
		}
	case "oauth2":
		if s.authorization != "Bearer "+apiKey || s.apiKey != "" || s.cookie != "" {
			t.Errorf("oauth2 sent Authorization %q, X-API-Key %q, Cookie %q", s.authorization, s.apiKey, s.cookie)
		}
	default:
		if s.apiKey != apiKey || s.cookie != "" || s.authorization != "" {
			t.Errorf("sent X-API-Key %q, Cookie %q, Authorization %q; want the API key only", s.apiKey, s.cookie, s.authorization)
		}
	}
	if s.accept != "application/json" {
		t.Errorf("Accept %q, want application/json", s.accept)
	}
	if ac.body == nil {
		if s.bodyLen != 0 {
			t.Errorf("a body of %d bytes, want none", s.bodyLen)
		}
		return
	}
	if !hasJSONType(s.contentType) {
		t.Errorf("Content-Type %q, want application/json", s.contentType)
	}
	if ac.rawBody {
		if !bytes.Equal(s.body, ac.body) {
			t.Errorf("body of %d bytes differs from the %d bytes given", len(s.body), len(ac.body))
		}
		return
	}
	// Encoders differ in a trailing newline (json.Encoder): compare values.
	var got, want any
	if err := json.Unmarshal(s.body, &got); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if err := json.Unmarshal(ac.body, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body %s, want %s", s.body, ac.body)
	}
}
