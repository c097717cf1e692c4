package authtest_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
)

// Every credential a client can send is masked in what the fake recorded,
// whatever form it takes: headers, cookies, query parameters.
func TestReceivedMasksCredentials(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer k.Close()
	k.AddUser("admin@example.org", "s3cret-pass", "ADMIN")
	key := k.AddAPIKey("admin@example.org", "t")
	c, err := authclient.New(authclient.Komga, k.URL, authclient.WithLogin("admin@example.org", "s3cret-pass"))
	require.NoError(t, err)
	require.NoError(t, c.CheckAuth(t.Context()))
	require.NoError(t, c.CheckAuth(t.Context())) // the session now

	secrets := []string{"s3cret-pass", key, "tok-123", "sess-456", "prox-789", "code-000"}
	req, _ := http.NewRequest("GET", k.URL+"api/v1/series?token=tok-123&api_key=tok-123&Code=code-000&page=2", nil)
	req.Header.Set("X-API-Key", key)
	req.Header.Set("X-Auth-Token", "sess-456")
	req.Header.Set("Proxy-Authorization", "Basic prox-789")
	req.Header.Set("X-Forwarded-Auth-Secret", "prox-789")
	req.AddCookie(&http.Cookie{Name: "KOMGA-SESSION", Value: "sess-456"})
	req.AddCookie(&http.Cookie{Name: "komga-remember-me", Value: "tok-123"})
	resp, err := testClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	got := k.Received()
	require.GreaterOrEqual(t, len(got), 3)
	for _, q := range got {
		dump := strings.Join([]string{q.Method, q.Path, q.Query.Encode()}, " ")
		for name, vs := range q.Header {
			dump += " " + name + ": " + strings.Join(vs, ",")
		}
		for _, s := range secrets {
			assert.NotContains(t, dump, s)
		}
	}
	last := got[len(got)-1]
	assert.Equal(t, "GET", last.Method)
	assert.Equal(t, "/api/v1/series", last.Path)
	assert.Equal(t, "2", last.Query.Get("page"))
	assert.Equal(t, authtest.Masked, last.Query.Get("token"))
	assert.Equal(t, authtest.Masked, last.Query.Get("Code"))
	assert.Equal(t, authtest.Masked, last.Header.Get("X-Api-Key"))
	assert.Equal(t, "KOMGA-SESSION="+authtest.Masked+"; komga-remember-me="+authtest.Masked, last.Header.Get("Cookie"))
	assert.Equal(t, authtest.Masked, got[0].Header.Get("Authorization"))
	assert.False(t, last.Time.IsZero())

	// The copy is the caller's.
	last.Header.Set("X-Api-Key", "changed")
	last.Query.Set("token", "changed")
	again := k.Received()
	assert.Equal(t, authtest.Masked, again[len(again)-1].Header.Get("X-Api-Key"))
	assert.Equal(t, authtest.Masked, again[len(again)-1].Query.Get("token"))
}

// Bodies are kept up to ReceivedBodyMax and the handler still sees all of
// it; only the last ReceivedMax requests are kept.
func TestReceivedBounds(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer k.Close()
	var seen int
	require.NoError(t, k.HandlePublic("POST", "/upload", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(bytes.Buffer)
		_, _ = b.ReadFrom(r.Body)
		seen = b.Len()
	})))
	for _, n := range []int{0, 10, authtest.ReceivedBodyMax, authtest.ReceivedBodyMax + 1, 3 * authtest.ReceivedBodyMax} {
		body := bytes.Repeat([]byte("a"), n)
		resp, err := testClient.Post(k.URL+"upload", "text/plain", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, n, seen, n)
		got := k.Received()
		last := got[len(got)-1]
		assert.Equal(t, min(n, authtest.ReceivedBodyMax), len(last.Body), n)
		assert.Equal(t, n > authtest.ReceivedBodyMax, last.BodyTruncated, n)
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range authtest.ReceivedMax / 2 {
				resp, err := testClient.Get(k.URL + "actuator/health")
				if err == nil {
					resp.Body.Close()
				}
				_ = k.Received()
			}
		}()
	}
	wg.Wait()
	got := k.Received()
	assert.Len(t, got, authtest.ReceivedMax)
	for _, q := range got {
		assert.Equal(t, "/actuator/health", q.Path)
	}
	assert.Equal(t, authtest.ReceivedMax*2+5, k.TotalRequests())
}

// Credentials in JSON and form bodies are masked; the rest of the body is
// kept; a Request prints without its body in every verb.
func TestReceivedMasksBodies(t *testing.T) {
	t.Parallel()
	a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	defer a.Close()
	a.AddUser("alice", "pw-Secret-1", "user")
	c, err := authclient.New(authclient.Audiobookshelf, a.URL, authclient.WithLogin("alice", "pw-Secret-1"))
	require.NoError(t, err)
	require.NoError(t, c.CheckAuth(t.Context()))

	post := func(ct, body string) {
		resp, err := testClient.Post(a.URL+"echo", ct, strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
	}
	require.NoError(t, a.HandlePublic("POST", "/echo", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	post("application/json", `{"user":{"newPassword":"pw-Secret-2","items":[{"refresh_token":"pw-Secret-3"}]},"n":1.50}`)
	post("application/x-www-form-urlencoded", "username=alice&password=pw-Secret-4&bad=%zz&client_secret=pw-Secret-5")
	post("", `{"apiKey":"pw-Secret-6"}`)
	post("text/plain", "kept as sent")

	got := a.Received()
	var login authtest.Request
	for _, q := range got {
		if q.Method == "POST" && q.Path == "/login" {
			login = q
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, q)
			assert.NotContains(t, out, "pw-Secret", verb)
			assert.NotContains(t, out, "alice", verb) // no body at all
		}
		assert.NotContains(t, string(q.Body), "pw-Secret")
	}
	require.NotEmpty(t, login.Method)
	assert.JSONEq(t, `{"username":"alice","password":"`+authtest.Masked+`"}`, string(login.Body))
	n := len(got)
	assert.JSONEq(t, `{"user":{"newPassword":"[MASKED]","items":[{"refresh_token":"[MASKED]"}]},"n":1.50}`, string(got[n-4].Body))
	assert.Equal(t, "username=alice&password=[MASKED]&bad=%zz&client_secret=[MASKED]", string(got[n-3].Body))
	assert.JSONEq(t, `{"apiKey":"[MASKED]"}`, string(got[n-2].Body))
	assert.Equal(t, "kept as sent", string(got[n-1].Body))
	assert.Contains(t, fmt.Sprint(got[n-1]), "POST /echo")
}
