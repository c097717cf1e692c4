package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sessionTokens reads the secrets of a session file.
func sessionTokens(t *testing.T, path string) []string {
	t.Helper()
	var s struct {
		Token        string `json:"token"`
		RefreshToken string `json:"refresh_token"`
		RememberMe   string `json:"remember_me"`
	}
	require.NoError(t, json.Unmarshal([]byte(readSecretFile(t, path)), &s))
	return []string{s.Token, s.RefreshToken, s.RememberMe}
}

// TestSessionFileKomga: login saves a 0600 session, two later runs reuse it
// without signing in again, logout ends it and removes the file.
func TestSessionFileKomga(t *testing.T) {
	t.Parallel()
	k, _ := komgaFake(t)
	dir := t.TempDir()
	sess := filepath.Join(dir, "komga.session")
	pwFile := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte(komgaPass+"\n"), 0o600))
	c := newCLI(t, "KOMGA_URL="+k.URL, "KOMGA_USERNAME="+komgaEmail)
	c.secret(komgaPass)
	r := c.run("login", "--server", "komga", "--password-file", pwFile, "--session-file", sess, "--json", "--verbose")
	require.Equal(t, 0, r.code, r.stderr)
	c.secret(sessionTokens(t, sess)...)
	c.checkSecrets(r, nil)
	assert.Equal(t, komgaEmail, jsonOf(t, r)["user"])
	assert.Equal(t, 1, k.Logins())
	noTempFiles(t, dir, "komga.session", "pw")

	noPassword := newCLI(t, "KOMGA_URL="+k.URL)
	noPassword.secrets = c.secrets
	for range 2 {
		r = noPassword.run("check", "--server", "komga", "--session-file", sess, "--verbose")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, komgaEmail)
	}
	assert.Equal(t, 1, k.Logins(), "the session was reused, not signed in again")

	r = noPassword.run("logout", "--server", "komga", "--session-file", sess)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NoFileExists(t, sess)
	r = noPassword.run("check", "--server", "komga", "--session-file", sess)
	assert.Equal(t, 3, r.code, "no session file any more: %s", r.stderr)
	assert.Contains(t, r.stderr, "authclient login")
}

// TestSessionFileAudiobookshelfRefreshWrittenBack: a session whose access
// token expired is refreshed, and the rotated refresh token is written back
// to the file, so the next run works too.
func TestSessionFileAudiobookshelfRefreshWrittenBack(t *testing.T) {
	t.Parallel()
	clock := authtest.NewClock(time.Now())
	a, _ := absFake(t, authtest.WithClock(clock))
	sess := filepath.Join(t.TempDir(), "abs.session")
	c := newCLI(t, "AUDIOBOOKSHELF_URL="+a.BasePathURL(), "AUDIOBOOKSHELF_USERNAME=root", "AUDIOBOOKSHELF_PASSWORD=root")
	r := c.run("login", "--server", "audiobookshelf", "--session-file", sess)
	require.Equal(t, 0, r.code, r.stderr)
	first := sessionTokens(t, sess)
	c.secret(first...)

	clock.Advance(2 * time.Hour) // past the access token's hour
	noPassword := newCLI(t, "AUDIOBOOKSHELF_URL="+a.BasePathURL())
	noPassword.secrets = c.secrets
	r = noPassword.run("check", "--server", "audiobookshelf", "--session-file", sess, "--json", "--verbose")
	require.Equal(t, 0, r.code, r.stderr+r.stdout)
	second := sessionTokens(t, sess)
	noPassword.secret(second...)
	noPassword.checkSecrets(r, nil)
	assert.NotEqual(t, first[1], second[1], "the rotated refresh token was written back")
	assert.Equal(t, 1, a.Refreshes())

	r = noPassword.run("keys", "list", "--server", "audiobookshelf", "--session-file", sess)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, 1, a.Logins(), "one sign-in across the runs")

	r = noPassword.run("logout", "--server", "audiobookshelf", "--session-file", sess, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, true, jsonOf(t, r)["logged_out"])
	assert.NoFileExists(t, sess)
}

// TestSessionFileRefused: bad session files are configuration errors that
// never quote the file: not JSON, another server's, empty, too large, a
// directory, and a wrong password at login.
func TestSessionFileRefused(t *testing.T) {
	t.Parallel()
	k, _ := komgaFake(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	c := newCLI(t, "KOMGA_URL="+k.URL)
	c.secret("secret-token-in-the-file-0123")
	for _, path := range []string{
		write("garbage", "not json secret-token-in-the-file-0123"),
		write("other", `{"server":"audiobookshelf","token":"secret-token-in-the-file-0123"}`),
		write("empty", `{"server":"komga"}`),
		write("big", `{"server":"komga","token":"`+string(make([]byte, 70<<10))+`"}`),
		dir,
		filepath.Join(dir, "missing"),
	} {
		r := c.run("check", "--server", "komga", "--session-file", path)
		assert.Equal(t, 3, r.code, "%s: %s", path, r.stderr)
		assert.Contains(t, r.stderr, "--session-file")
	}
	bad := newCLI(t, "KOMGA_URL="+k.URL, "KOMGA_USERNAME="+komgaEmail, "KOMGA_PASSWORD=wrong-password-0123")
	bad.secret("wrong-password-0123")
	r := bad.run("login", "--server", "komga", "--session-file", filepath.Join(dir, "s"))
	assert.Equal(t, 4, r.code, r.stderr)
	assert.NoFileExists(t, filepath.Join(dir, "s"))
	r = newCLI(t, "KOMGA_URL="+k.URL).run("login", "--server", "komga", "--session-file", filepath.Join(dir, "s"))
	assert.Equal(t, 3, r.code, "no username: %s", r.stderr)
	sent := k.TotalRequests()
	r = newCLI(t, "KOMGA_URL="+k.URL, "KOMGA_USERNAME="+komgaEmail).run("login", "--server", "komga", "--session-file", filepath.Join(dir, "s"))
	assert.Equal(t, 3, r.code, "no password: %s", r.stderr)
	assert.Equal(t, sent, k.TotalRequests(), "nothing sent without a password")
	withKey := newCLI(t, "KOMGA_URL="+k.URL, "KOMGA_USERNAME="+komgaEmail, "KOMGA_PASSWORD="+komgaPass, "KOMGA_API_KEY=some-key-0123456789")
	withKey.secret(komgaPass, "some-key-0123456789")
	r = withKey.run("login", "--server", "komga", "--session-file", filepath.Join(dir, "s"))
	assert.Equal(t, 0, r.code, "an API key too is ignored: %s", r.stderr)
	withKey.secret(sessionTokens(t, filepath.Join(dir, "s"))...)
	withKey.checkSecrets(r, nil)
}
