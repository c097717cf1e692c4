package audiobookshelf_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/audiobookshelf"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fast makes retries quick (a backoff, not a timeout: nothing races it).
var fast = authclient.WithRetryWait(0, 0)

// setup starts a fake Audiobookshelf mounted under /abs (as behind a
// reverse proxy; root "root"/"root"), with a plain user and a library.
func setup(t *testing.T) *authtest.Audiobookshelf {
	t.Helper()
	a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
	t.Cleanup(a.Close)
	a.AddUser("alice", "alice-pw", "user")
	a.AddLibrary("Books")
	return a
}

// newClient is an Audiobookshelf client for the fake, under its prefix,
// with quick retries.
func newClient(t *testing.T, a *authtest.Audiobookshelf, opts ...authclient.Option) *audiobookshelf.Client {
	t.Helper()
	require.True(t, strings.HasSuffix(a.BasePathURL(), "/abs/"), a.BasePathURL())
	c, err := audiobookshelf.New(a.BasePathURL(), append([]authclient.Option{fast}, opts...)...)
	require.NoError(t, err)
	return c
}

// errorOf returns err's *authclient.Error.
func errorOf(t *testing.T, err error) *authclient.Error {
	t.Helper()
	var e *authclient.Error
	require.ErrorAs(t, err, &e)
	return e
}

// The constructors check the server: the class is every way to get a
// *audiobookshelf.Client (New, NewFromEnv, Wrap, a zero or nil Client) and
// every bad input to them (nil, another server, a bad URL, a missing
// variable), each a *authclient.ConfigError that names no credential, and
// nothing is sent.
func TestConstructorsCheckTheServer(t *testing.T) {
	a := setup(t)
	key := a.AddAPIKey("root", "script", 0, true)
	var ce *authclient.ConfigError

	core, err := authclient.New(authclient.Audiobookshelf, a.BasePathURL(), authclient.WithAPIKey(key))
	require.NoError(t, err)
	c, err := audiobookshelf.Wrap(core)
	require.NoError(t, err)
	assert.Same(t, core, c.Core(), "Wrap shares the core")
	_, err = c.Authorize(t.Context())
	require.NoError(t, err)

	_, err = audiobookshelf.Wrap(nil)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "audiobookshelf.Wrap", ce.Setting)
	for _, other := range []authclient.Server{authclient.ComfyUI, authclient.Khoj, authclient.Komga} {
		oc, err := authclient.New(other, a.BasePathURL(), authclient.WithAPIKey(key))
		require.NoError(t, err)
		w, err := audiobookshelf.Wrap(oc)
		require.ErrorAs(t, err, &ce, other)
		assert.Nil(t, w)
		assert.Contains(t, err.Error(), string(other), other)
		assert.NotContains(t, err.Error(), key, other)
	}
	for _, bad := range []string{"", "ftp://h/", "http://h/\n", "://"} {
		c, err := audiobookshelf.New(bad, authclient.WithAPIKey(key))
		require.ErrorAs(t, err, &ce, bad)
		assert.Nil(t, c)
	}

	// Clients not made by a constructor fail cleanly, never panic.
	before := a.TotalRequests()
	for name, bad := range map[string]*audiobookshelf.Client{"nil": nil, "zero": {}} {
		assert.Nil(t, bad.Core(), name)
		for op, err := range map[string]error{
			"Authorize":         func() error { _, err := bad.Authorize(t.Context()); return err }(),
			"ListLibraries":     func() error { _, err := bad.ListLibraries(t.Context()); return err }(),
			"SetAPIKeyActive":   func() error { _, err := bad.SetAPIKeyActive(t.Context(), "id", true); return err }(),
			"StartOpenIDLogin":  func() error { _, err := bad.StartOpenIDLogin(t.Context(), "audiobookshelf://oauth"); return err }(),
			"FinishOpenIDLogin": func() error { _, err := bad.FinishOpenIDLogin(t.Context(), nil, "x"); return err }(),
			"LibraryItems": func() error {
				for _, err := range bad.LibraryItems(t.Context(), "lib") {
					return err
				}
				return nil
			}(),
		} {
			require.ErrorAs(t, err, &ce, name+" "+op)
			assert.Equal(t, "audiobookshelf.Client", ce.Setting, name+" "+op)
		}
	}
	assert.Equal(t, before, a.TotalRequests())

	// NewFromEnv reads AUDIOBOOKSHELF_* (t.Setenv: this test is not parallel).
	t.Setenv("AUDIOBOOKSHELF_URL", a.BasePathURL())
	t.Setenv("AUDIOBOOKSHELF_API_KEY", key)
	c, err = audiobookshelf.NewFromEnv(fast)
	require.NoError(t, err)
	libs, err := c.ListLibraries(t.Context())
	require.NoError(t, err)
	assert.Len(t, libs, 1)
	t.Setenv("AUDIOBOOKSHELF_URL", "")
	c, err = audiobookshelf.NewFromEnv()
	require.ErrorAs(t, err, &ce)
	assert.Nil(t, c)
	assert.Equal(t, "AUDIOBOOKSHELF_URL", ce.Setting)
	assert.NotContains(t, err.Error(), key)
}

func TestAuthorizeAndLibraries(t *testing.T) {
	t.Parallel()
	a := setup(t)
	c := newClient(t, a, authclient.WithLogin("root", "root"))

	libs, err := c.ListLibraries(t.Context())
	require.NoError(t, err)
	require.Len(t, libs, 1)
	assert.Equal(t, "Books", libs[0].Name)
	assert.Equal(t, "book", libs[0].MediaType)
	assert.NotEmpty(t, libs[0].ID)
	assert.NotEmpty(t, libs[0].Folders)

	auth, err := c.Authorize(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "root", auth.User.Username)
	assert.True(t, auth.User.Admin)
	require.NotNil(t, auth.User.Audiobookshelf, "the core's Audiobookshelf part of the user")
	assert.Equal(t, "root", auth.User.Audiobookshelf.Type)
	assert.True(t, auth.User.Audiobookshelf.Permissions["download"])
	assert.Equal(t, "2.36.0", auth.ServerVersion)
	s := c.Core().Session()
	require.NotNil(t, s)
	assert.Equal(t, "Bearer "+s.Token, a.LastHeader("POST", "/api/authorize").Get("Authorization"))

	// An API key works too.
	key := a.AddAPIKey("alice", "k", 0, true)
	auth, err = newClient(t, a, authclient.WithAPIKey(key)).Authorize(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "alice", auth.User.Username)
	assert.False(t, auth.User.Admin)
}

func TestAuthorizeAndLibrariesFail(t *testing.T) {
	t.Parallel()
	a := setup(t)
	authorize := func(c *audiobookshelf.Client) error { _, err := c.Authorize(t.Context()); return err }
	libraries := func(c *audiobookshelf.Client) error { _, err := c.ListLibraries(t.Context()); return err }
	ops := map[string]func(*audiobookshelf.Client) error{"Authorize": authorize, "ListLibraries": libraries}

	inactive := a.AddAPIKey("root", "off", 0, false)
	for name, op := range ops {
		// A key ABS never issued, and one it issued but deactivated.
		for key, hint := range map[string]string{"not-a-jwt": "not a token", inactive: "inactive"} {
			err := op(newClient(t, a, authclient.WithAPIKey(key)))
			require.ErrorIs(t, err, authclient.ErrUnauthorized, name)
			e := errorOf(t, err)
			assert.Equal(t, http.StatusUnauthorized, e.StatusCode, name)
			assert.Equal(t, "Unauthorized", e.Message, name)
			assert.Equal(t, authclient.CredentialAPIKey, e.Credential, name)
			assert.Contains(t, e.Hint, hint, name)
			assert.NotContains(t, err.Error(), key, name)
			assert.Contains(t, e.URL, "/abs/api/", name)
		}
	}

	c := newClient(t, a, authclient.WithLogin("root", "root"))
	require.NoError(t, authorize(c))

	// 500: returned as it is, never retried (not even Authorize, which is safe to repeat).
	authorizes, listings := a.Requests("POST", "/api/authorize"), a.Requests("GET", "/api/libraries")
	a.Faults.FailNextOn("/api/authorize", 1, http.StatusInternalServerError, -1)
	_, err := c.Authorize(t.Context())
	e := errorOf(t, err)
	assert.Equal(t, http.StatusInternalServerError, e.StatusCode)
	assert.Equal(t, "Internal Server Error", e.Message)
	assert.NotErrorIs(t, err, authclient.ErrUnauthorized)
	assert.NotErrorIs(t, err, authclient.ErrUnavailable)
	assert.Equal(t, authorizes+1, a.Requests("POST", "/api/authorize"))

	// 503 on every attempt: retried, then ErrUnavailable; a single 503 is retried away.
	a.Faults.FailNextOn("/api/libraries", 3, http.StatusServiceUnavailable, -1)
	libs, err := c.ListLibraries(t.Context())
	require.ErrorIs(t, err, authclient.ErrUnavailable)
	assert.Nil(t, libs)
	assert.Equal(t, http.StatusServiceUnavailable, errorOf(t, err).StatusCode)
	assert.Equal(t, listings+3, a.Requests("GET", "/api/libraries"))
	a.Faults.FailNextOn("/api/authorize", 1, http.StatusServiceUnavailable, -1)
	require.NoError(t, authorize(c))

	// A 401 on a signed-in client renews the session once and replays.
	a.Faults.FailNextOn("/api/libraries", 1, http.StatusUnauthorized, -1)
	require.NoError(t, libraries(c))
	assert.Equal(t, 1, a.Refreshes())
}

// Answers the fake never gives: the class is every answer shape that is
// not what the operation reads (no user object, a user that is not an
// object, HTML, an empty body), each matching ErrUnexpectedServer.
func TestAuthorizeAndLibrariesUnexpectedAnswers(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"no user":          `{"serverSettings": {"version": "2.36.0"}}`,
		"user not object":  `{"user": "root"}`,
		"user is null":     `{"user": null}`,
		"empty body":       ``,
		"libraries string": `{"libraries": "Books"}`,
	} {
		stub := stubServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(body))
		})
		c, err := audiobookshelf.New(stub.URL+"/abs/", authclient.WithAPIKey("a-key-1234"), fast)
		require.NoError(t, err)
		var e error
		if strings.HasPrefix(name, "libraries") {
			_, e = c.ListLibraries(t.Context())
		} else {
			_, e = c.Authorize(t.Context())
		}
		require.ErrorIs(t, e, authclient.ErrUnexpectedServer, name)
		assert.NotContains(t, e.Error(), "a-key-1234", name)
	}
}

func TestSetAPIKeyActive(t *testing.T) {
	t.Parallel()
	a := setup(t)
	admin := newClient(t, a, authclient.WithLogin("root", "root"))
	k, err := admin.Core().CreateAPIKey(t.Context(), authclient.CreateAPIKeyRequest{Name: "svc"})
	require.NoError(t, err)
	kc := newClient(t, a, authclient.WithAPIKey(k.Secret))

	info, err := admin.SetAPIKeyActive(t.Context(), k.ID, false)
	require.NoError(t, err)
	assert.False(t, info.Active)
	assert.Equal(t, k.ID, info.ID)
	assert.Equal(t, "svc", info.Name)
	assert.Equal(t, "root", info.Username)
	_, err = kc.ListLibraries(t.Context())
	require.ErrorIs(t, err, authclient.ErrUnauthorized)
	e := errorOf(t, err)
	assert.Equal(t, authclient.CredentialAPIKey, e.Credential)
	assert.Contains(t, e.Hint, "inactive")
	assert.NotContains(t, e.Error(), k.Secret)

	info, err = admin.SetAPIKeyActive(t.Context(), k.ID, true)
	require.NoError(t, err)
	assert.True(t, info.Active)
	_, err = kc.ListLibraries(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, a.Requests("PATCH", "/api/api-keys/"+k.ID))
}

func TestSetAPIKeyActiveFails(t *testing.T) {
	t.Parallel()
	a := setup(t)
	admin := newClient(t, a, authclient.WithLogin("root", "root"))
	k, err := admin.Core().CreateAPIKey(t.Context(), authclient.CreateAPIKeyRequest{Name: "svc"})
	require.NoError(t, err)

	info, err := admin.SetAPIKeyActive(t.Context(), "00000000-0000-4000-8000-000000000000", false)
	require.ErrorIs(t, err, authclient.ErrNotFound)
	assert.Nil(t, info)
	e := errorOf(t, err)
	assert.Equal(t, http.StatusNotFound, e.StatusCode)
	assert.Equal(t, "Not Found", e.Message)

	_, err = newClient(t, a, authclient.WithLogin("alice", "alice-pw")).SetAPIKeyActive(t.Context(), k.ID, false)
	require.ErrorIs(t, err, authclient.ErrForbidden)
	e = errorOf(t, err)
	assert.Equal(t, http.StatusForbidden, e.StatusCode)
	assert.Equal(t, "Forbidden", e.Message)
	assert.Contains(t, e.Hint, "admins only")

	// Ids that would leave /api/api-keys/, in several spellings: nothing is sent.
	before := a.TotalRequests()
	for _, id := range []string{"..", "../api-keys", "..%2f", "%2e%2e", "x/../../login", "..\\x"} {
		_, err = admin.SetAPIKeyActive(t.Context(), id, false)
		require.ErrorIs(t, err, authclient.ErrInvalidPath, id)
	}
	var ce *authclient.ConfigError
	for _, id := range []string{"", " ", "\t"} {
		_, err = admin.SetAPIKeyActive(t.Context(), id, false)
		require.ErrorAs(t, err, &ce, "%q", id)
		assert.Equal(t, "audiobookshelf.SetAPIKeyActive", ce.Setting)
	}
	assert.Equal(t, before, a.TotalRequests())

	keys, err := admin.Core().ListAPIKeys(t.Context())
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.True(t, keys[0].Active, "no failed call changed the key")
}
