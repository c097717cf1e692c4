package comfyui_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/comfyui"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// placements are the ways a client can carry the ComfyUI key, each of
// which the patch accepts.
func placements(key string) map[string]authclient.Option {
	return map[string]authclient.Option{
		"bearer":    authclient.WithAPIKey(key),
		"x-api-key": authclient.WithAuthenticator(authclient.APIKeyIn(authclient.InHeader("X-API-Key"), key)),
		"query":     authclient.WithAuthenticator(authclient.APIKeyIn(authclient.InQuery("api_key"), key)),
	}
}

// TestUploadAndDownload: an image uploaded from a plain io.Reader comes
// back byte for byte through Download (io.Writer) and Open
// (io.ReadCloser), with its content type and size, for every key
// placement, under a path prefix.
func TestUploadAndDownload(t *testing.T) {
	t.Parallel()
	for name, opt := range placements(comfyKey) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := setup(t, comfyKey)
			c := newClient(t, s.URL, opt)
			img := bytes.Repeat([]byte("pixel"), 10000)
			up, err := c.UploadImage(t.Context(), "cat.png", io.MultiReader(bytes.NewReader(img)), comfyui.UploadOptions{Subfolder: "pets"})
			require.NoError(t, err)
			assert.Equal(t, comfyui.Uploaded{Name: "cat.png", Subfolder: "pets", Type: "input"}, *up)
			stored, ok := s.File("input", "pets", "cat.png")
			require.True(t, ok)
			assert.Equal(t, img, stored)

			var buf bytes.Buffer
			fi, err := c.Download(t.Context(), up.File(), &buf)
			require.NoError(t, err)
			assert.Equal(t, img, buf.Bytes())
			assert.Equal(t, "image/png", fi.ContentType)
			assert.Equal(t, int64(len(img)), fi.Size)

			f, err := c.Open(t.Context(), up.File())
			require.NoError(t, err)
			got, err := io.ReadAll(f)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			assert.Equal(t, img, got)
			assert.Equal(t, "image/png", f.ContentType)
			assert.Equal(t, int64(len(img)), f.Size)
		})
	}
}

// TestUploadCollisions: ComfyUI's naming on a collision — a different
// file gets "name (1).ext", "name (2).ext"; the same bytes reuse the name;
// Overwrite replaces — is what UploadImage returns.
func TestUploadCollisions(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	ctx := t.Context()
	names := []string{}
	for _, body := range []string{"one", "two", "one", "three"} {
		up, err := c.UploadImage(ctx, "in.jpg", strings.NewReader(body), comfyui.UploadOptions{})
		require.NoError(t, err)
		names = append(names, up.Name)
	}
	assert.Equal(t, []string{"in.jpg", "in (1).jpg", "in.jpg", "in (2).jpg"}, names)
	up, err := c.UploadImage(ctx, "in.jpg", strings.NewReader("four"), comfyui.UploadOptions{Overwrite: true})
	require.NoError(t, err)
	assert.Equal(t, "in.jpg", up.Name)
	got, _ := s.File("input", "", "in.jpg")
	assert.Equal(t, "four", string(got))
	up, err = c.UploadImage(ctx, "t.png", strings.NewReader("x"), comfyui.UploadOptions{Type: "temp"})
	require.NoError(t, err)
	assert.Equal(t, "temp", up.Type)
}

// TestUploadMask: the mask goes with its original's reference; a missing
// original still answers 200 (ComfyUI's quirk) and stores nothing.
func TestUploadMask(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	ctx := t.Context()
	orig, err := c.UploadImage(ctx, "face.png", strings.NewReader("face"), comfyui.UploadOptions{})
	require.NoError(t, err)
	m, err := c.UploadMask(ctx, "face-mask.png", strings.NewReader("mask"), orig.File(), comfyui.UploadOptions{Overwrite: true})
	require.NoError(t, err)
	assert.Equal(t, "face-mask.png", m.Name)
	_, ok := s.File("input", "", "face-mask.png")
	assert.True(t, ok)

	m, err = c.UploadMask(ctx, "ghost-mask.png", strings.NewReader("mask"), comfyui.OutputFile{Filename: "ghost.png"}, comfyui.UploadOptions{})
	require.NoError(t, err, "ComfyUI answers 200 without writing")
	_, err = c.Download(ctx, m.File(), io.Discard)
	require.ErrorIs(t, err, authclient.ErrNotFound, "nothing was written")

	_, err = c.UploadMask(ctx, "x.png", strings.NewReader("m"), comfyui.OutputFile{}, comfyui.UploadOptions{})
	var ce *authclient.ConfigError
	require.ErrorAs(t, err, &ce)
	_, err = c.UploadMask(ctx, "x.png", strings.NewReader("m"), comfyui.OutputFile{Filename: "a.png", Type: "models"}, comfyui.UploadOptions{})
	require.ErrorAs(t, err, &ce)
}

// TestUploadBadArguments: the class of arguments that never reach the
// server (names with a separator, a dot segment, control characters; an
// unknown type; a nil reader) is a ConfigError and nothing is uploaded.
func TestUploadBadArguments(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	r := strings.NewReader("x")
	cases := map[string]func() error{
		"empty name": func() error { _, err := c.UploadImage(t.Context(), "", r, comfyui.UploadOptions{}); return err },
		"slash":      func() error { _, err := c.UploadImage(t.Context(), "a/b.png", r, comfyui.UploadOptions{}); return err },
		"backslash":  func() error { _, err := c.UploadImage(t.Context(), `a\b.png`, r, comfyui.UploadOptions{}); return err },
		"dotdot":     func() error { _, err := c.UploadImage(t.Context(), "..", r, comfyui.UploadOptions{}); return err },
		"CRLF": func() error {
			_, err := c.UploadImage(t.Context(), "a\r\nX: y.png", r, comfyui.UploadOptions{})
			return err
		},
		"nil reader": func() error { _, err := c.UploadImage(t.Context(), "a.png", nil, comfyui.UploadOptions{}); return err },
		"type": func() error {
			_, err := c.UploadImage(t.Context(), "a.png", r, comfyui.UploadOptions{Type: "models"})
			return err
		},
		"subfolder CRLF": func() error {
			_, err := c.UploadImage(t.Context(), "a.png", r, comfyui.UploadOptions{Subfolder: "a\nb"})
			return err
		},
		"mask name": func() error {
			_, err := c.UploadMask(t.Context(), "a/b", r, comfyui.OutputFile{Filename: "o.png"}, comfyui.UploadOptions{})
			return err
		},
	}
	for name, f := range cases {
		var ce *authclient.ConfigError
		assert.ErrorAs(t, f(), &ce, name)
	}
	_, ok := s.File("input", "", "a.png")
	assert.False(t, ok)
}

// TestUploadAndViewErrors: a wrong or missing key on upload and view is a
// typed unauthorized error that does not show the key, for each
// placement; ComfyUI's own refusals keep their status.
func TestUploadAndViewErrors(t *testing.T) {
	t.Parallel()
	s := setup(t, comfyKey)
	s.PutFile("output", "", "out.png", []byte("png"))
	wrong := "wrong-key-0123456789"
	for name, opt := range placements(wrong) {
		c := newClient(t, s.URL, opt)
		_, err := c.UploadImage(t.Context(), "a.png", strings.NewReader("x"), comfyui.UploadOptions{})
		require.ErrorIs(t, err, authclient.ErrUnauthorized, name)
		assert.NotContains(t, err.Error(), wrong)
		_, err = c.Download(t.Context(), comfyui.OutputFile{Filename: "out.png"}, io.Discard)
		require.ErrorIs(t, err, authclient.ErrUnauthorized, name)
		assert.NotContains(t, err.Error(), wrong)
		_, err = c.Open(t.Context(), comfyui.OutputFile{Filename: "out.png"})
		require.ErrorIs(t, err, authclient.ErrUnauthorized, name)
	}
	_, err := newClient(t, s.URL).Download(t.Context(), comfyui.OutputFile{Filename: "out.png"}, io.Discard)
	require.ErrorIs(t, err, authclient.ErrUnauthorized, "no key")

	c := newClient(t, s.URL, authclient.WithAPIKey(comfyKey))
	status := func(err error) int {
		var e *authclient.Error
		if errors.As(err, &e) {
			return e.StatusCode
		}
		return 0
	}
	_, err = c.Download(t.Context(), comfyui.OutputFile{Filename: "missing.png"}, io.Discard)
	assert.ErrorIs(t, err, authclient.ErrNotFound)
	_, err = c.Download(t.Context(), comfyui.OutputFile{Filename: "out.png", Subfolder: "../../etc"}, io.Discard)
	assert.Equal(t, http.StatusForbidden, status(err))
	_, err = c.Download(t.Context(), comfyui.OutputFile{Filename: "a..png"}, io.Discard)
	assert.Equal(t, http.StatusBadRequest, status(err))
	_, err = c.UploadImage(t.Context(), "a.png", strings.NewReader("x"), comfyui.UploadOptions{Subfolder: "../up"})
	assert.Equal(t, http.StatusBadRequest, status(err))
	var ce *authclient.ConfigError
	for _, f := range []comfyui.OutputFile{{}, {Filename: "a\r\n.png"}, {Filename: "a.png", Subfolder: "\x00"}, {Filename: "a.png", Type: "models"}} {
		_, err = c.Download(t.Context(), f, io.Discard)
		assert.ErrorAs(t, err, &ce, "%+v", f)
		_, err = c.Open(t.Context(), f)
		assert.ErrorAs(t, err, &ce, "%+v", f)
	}
	_, err = c.Download(t.Context(), comfyui.OutputFile{Filename: "out.png"}, nil)
	assert.ErrorAs(t, err, &ce)
	var we *authclient.WriteError
	_, err = c.Download(t.Context(), comfyui.OutputFile{Filename: "out.png"}, failWriter{})
	assert.ErrorAs(t, err, &we)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestViewRedirectToAnotherOrigin: a /view answer that redirects to
// another origin (a CDN, or an attacker) is refused, and the other origin
// never sees the key, with any placement.
func TestViewRedirectToAnotherOrigin(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.String()+"|"+r.Header.Get("Authorization")+"|"+r.Header.Get("X-API-Key"))
		mu.Unlock()
		_, _ = w.Write([]byte("stolen"))
	}))
	t.Cleanup(other.Close)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/view?"+r.URL.RawQuery, http.StatusFound)
	}))
	t.Cleanup(proxy.Close)
	for name, opt := range placements(comfyKey) {
		c := newClient(t, proxy.URL+"/comfyui", opt)
		_, err := c.Download(t.Context(), comfyui.OutputFile{Filename: "out.png"}, io.Discard)
		require.Error(t, err, name)
		assert.NotContains(t, err.Error(), comfyKey)
		_, err = c.Open(t.Context(), comfyui.OutputFile{Filename: "out.png"})
		require.Error(t, err, name)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		assert.NotContains(t, s, comfyKey)
	}
}
