package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckEveryServer: check signs in to each of the four servers under a
// path prefix, in text, --json and --verbose, and never prints the key.
func TestCheckEveryServer(t *testing.T) {
	t.Parallel()
	want := map[string]string{"komga": komgaEmail, "audiobookshelf": "root", "comfyui": "", "khoj": khojEmail}
	for _, s := range everyServer(t) {
		c := newCLI(t, s.env...)
		c.secret(s.secret)
		r := c.run("check", "--server", s.name)
		require.Equal(t, 0, r.code, "%s: %s", s.name, r.stderr)
		assert.Contains(t, r.stdout, "server:      "+s.name)
		assert.Contains(t, r.stdout, want[s.name])

		r = c.run("--server", s.name, "check", "--json", "--verbose")
		require.Equal(t, 0, r.code, "%s: %s", s.name, r.stderr)
		m := jsonOf(t, r)
		assert.Equal(t, s.name, m["server"])
		if want[s.name] != "" {
			assert.Contains(t, m["user"], want[s.name][:2], s.name)
		}
		assert.Equal(t, s.name != "comfyui", m["can_manage_api_keys"], s.name)
		assert.Contains(t, r.stderr, "GET", "--verbose logs the requests")
		assert.Contains(t, r.stderr, "level=", "through slog")
		assert.Contains(t, r.stderr, "/"+map[string]string{"komga": "komga", "audiobookshelf": "abs", "comfyui": "comfy", "khoj": "khoj"}[s.name]+"/", "with the URL under the prefix")
		assert.NotContains(t, r.stdout, "level=", "logs go to stderr only: stdout stays JSON")
	}
}

// TestCheckWithKeyFileFlag: --api-key-file overrides the environment's
// key, --url the URL.
func TestCheckWithKeyFileFlag(t *testing.T) {
	t.Parallel()
	k, key := komgaFake(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(file, []byte(key+"\n"), 0o600))
	c := newCLI(t, "KOMGA_URL=http://127.0.0.1:1/wrong/", "KOMGA_API_KEY=wrong-key-0123456789")
	c.secret(key, "wrong-key-0123456789")
	r := c.run("check", "--server", "komga", "--url", k.URL, "--api-key-file", file)
	assert.Equal(t, 0, r.code, r.stderr)
	r = c.run("check", "--server", "komga", "--url", k.URL)
	assert.Equal(t, 4, r.code, "the environment's wrong key: %s", r.stderr)
	byEnv := newCLI(t, "AUTHCLIENT_SERVER=komga", "KOMGA_URL="+k.URL, "KOMGA_API_KEY_FILE="+file)
	byEnv.secret(key)
	r = byEnv.run("check")
	assert.Equal(t, 0, r.code, "the server from AUTHCLIENT_SERVER: %s", r.stderr)
}

// TestExitCodes: each category of failure has its exit code, on several
// servers where they can fail that way, in text and --json.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	k, kkey := komgaFake(t)
	a, akey := absFake(t)
	j, jtok := khojFake(t)
	cf := comfyFake(t)
	a.AddUser("bob", "bob-password-0123", "user")
	bobKey := a.AddAPIKey("bob", "bob", 0, true)
	gone := authtestClosedURL(t)

	type tc struct {
		name string
		env  []string
		args []string
		code int
		arm  func()
	}
	cases := []tc{
		{"komga bad key", []string{"KOMGA_URL=" + k.URL, "KOMGA_API_KEY=not-a-key-0123456789"}, []string{"check", "--server", "komga"}, 4, nil},
		{"abs bad key", []string{"AUDIOBOOKSHELF_URL=" + a.BasePathURL(), "AUDIOBOOKSHELF_API_KEY=not-a-key-0123456789"}, []string{"check", "--server", "audiobookshelf"}, 4, nil},
		{"comfyui bad key", []string{"COMFYUI_URL=" + cf.URL, "COMFYUI_API_KEY=not-a-key-0123456789"}, []string{"check", "--server", "comfyui"}, 4, nil},
		{"khoj bad token", []string{"KHOJ_URL=" + j.URL, "KHOJ_API_KEY=kk-not-a-token-0123456789"}, []string{"check", "--server", "khoj"}, 4, nil},
		{"komga no credential", []string{"KOMGA_URL=" + k.URL}, []string{"check", "--server", "komga"}, 4, nil},
		{"abs forbidden", []string{"AUDIOBOOKSHELF_URL=" + a.BasePathURL(), "AUDIOBOOKSHELF_API_KEY=" + bobKey}, []string{"keys", "list", "--server", "audiobookshelf"}, 5, nil},
		{"abs forbidden create", []string{"AUDIOBOOKSHELF_URL=" + a.BasePathURL(), "AUDIOBOOKSHELF_API_KEY=" + bobKey}, []string{"keys", "create", "--server", "audiobookshelf", "--name", "x", "--print-secret"}, 5, nil},
		{"refused", []string{"KOMGA_URL=" + gone, "KOMGA_API_KEY=" + kkey}, []string{"check", "--server", "komga", "--max-retries", "0"}, 6, nil},
		{"komga 503", []string{"KOMGA_URL=" + k.URL, "KOMGA_API_KEY=" + kkey}, []string{"check", "--server", "komga", "--max-retries", "0"}, 6,
			func() { k.Faults.FailNext(1, http.StatusServiceUnavailable, -1) }},
		{"khoj database down", []string{"KHOJ_URL=" + j.URL, "KHOJ_API_KEY=" + jtok}, []string{"keys", "list", "--server", "khoj", "--max-retries", "0"}, 6,
			func() { j.SetDatabaseDown(true) }},
		{"wrong server", []string{"KOMGA_URL=" + j.URL, "KOMGA_API_KEY=" + kkey}, []string{"check", "--server", "komga", "--max-retries", "0"}, 6, nil},
		{"abs 429", []string{"AUDIOBOOKSHELF_URL=" + a.BasePathURL(), "AUDIOBOOKSHELF_API_KEY=" + akey}, []string{"keys", "list", "--server", "audiobookshelf"}, 7,
			func() { a.Faults.FailNextOn("/api/api-keys", 1, http.StatusTooManyRequests, time.Hour) }},
		{"no url", []string{"KOMGA_API_KEY=" + kkey}, []string{"check", "--server", "komga"}, 3, nil},
		{"credentials in the url", []string{"KOMGA_URL=http://ci:url-password-0123@" + k.URL[len("http://"):]}, []string{"check", "--server", "komga"}, 3, nil},
		{"bad url", []string{"KOMGA_URL=ftp://x/", "KOMGA_API_KEY=" + kkey}, []string{"check", "--server", "komga"}, 3, nil},
		{"key and key file", []string{"KOMGA_URL=" + k.URL, "KOMGA_API_KEY=" + kkey, "KOMGA_API_KEY_FILE=/dev/null"}, []string{"check", "--server", "komga"}, 3, nil},
		{"key file is a directory", []string{"KOMGA_URL=" + k.URL}, []string{"check", "--server", "komga", "--api-key-file", t.TempDir()}, 3, nil},
		{"bad timeout variable", []string{"KOMGA_URL=" + k.URL, "KOMGA_TIMEOUT=soon"}, []string{"check", "--server", "komga"}, 3, nil},
		{"comfyui keys", []string{"COMFYUI_URL=" + cf.URL, "COMFYUI_API_KEY=" + comfyKey}, []string{"keys", "list", "--server", "comfyui"}, 8, nil},
		{"comfyui rotate", []string{"COMFYUI_URL=" + cf.URL, "COMFYUI_API_KEY=" + comfyKey}, []string{"keys", "rotate", "--server", "comfyui", "--print-secret"}, 8, nil},
		{"khoj login", []string{"KHOJ_URL=" + j.URL}, []string{"login", "--server", "khoj", "--session-file", filepath.Join(t.TempDir(), "s")}, 8, nil},
		{"komga delete unknown", []string{"KOMGA_URL=" + k.URL, "KOMGA_API_KEY=" + kkey}, []string{"keys", "delete", "--server", "komga", "no-such-id"}, 9, nil},
		{"khoj delete unknown", []string{"KHOJ_URL=" + j.URL, "KHOJ_API_KEY=" + jtok}, []string{"keys", "delete", "--server", "khoj", "--id", "no-such-id"}, 9, nil},
		{"komga rotate unidentified", []string{"KOMGA_URL=" + k.URL, "KOMGA_API_KEY=" + kkey}, []string{"keys", "rotate", "--server", "komga", "--print-secret"}, 9, nil},
		{"komga rotate no such name", []string{"KOMGA_URL=" + k.URL, "KOMGA_API_KEY=" + kkey}, []string{"keys", "rotate", "--server", "komga", "--name", "nope", "--print-secret"}, 9, nil},
		{"komga duplicate name", []string{"KOMGA_URL=" + k.URL, "KOMGA_API_KEY=" + kkey}, []string{"keys", "create", "--server", "komga", "--name", "CI", "--print-secret"}, 1, nil},
		{"output dir missing", []string{"KOMGA_URL=" + k.URL, "KOMGA_API_KEY=" + kkey}, []string{"keys", "create", "--server", "komga", "--name", "x", "--out", filepath.Join(t.TempDir(), "no", "such", "dir")}, 11, nil},
	}
	for _, tc := range cases { // sequential: the fault knobs are shared
		if tc.arm != nil {
			tc.arm()
		}
		c := newCLI(t, tc.env...)
		c.secret(kkey, akey, jtok, comfyKey, bobKey, "not-a-key-0123456789", "kk-not-a-token-0123456789", "url-password-0123")
		r := c.run(tc.args...)
		assert.Equal(t, tc.code, r.code, "%s: %s", tc.name, r.stderr)
		assert.Contains(t, r.stderr, "check: ", "%s: says what to check", tc.name)
		r2 := c.run(append(tc.args, "--json")...)
		if tc.name == "khoj database down" {
			j.SetDatabaseDown(false)
		}
		if tc.arm != nil && tc.name != "khoj database down" {
			continue // the fault was used by the first run
		}
		assert.Equal(t, tc.code, r2.code, "%s --json", tc.name)
		assert.EqualValues(t, tc.code, jsonOf(t, r2)["exit_code"], tc.name)
	}
}

// TestCheckSaysWhatTheCredentialCanDo: a non-admin Audiobookshelf key is
// accepted but may not manage keys; Khoj in anonymous mode says so, and its
// token commands are unsupported (exit 8).
func TestCheckSaysWhatTheCredentialCanDo(t *testing.T) {
	t.Parallel()
	a, _ := absFake(t)
	a.AddUser("bob", "bob-password-0123", "user")
	bob := a.AddAPIKey("bob", "bob", 0, true)
	c := newCLI(t, "AUDIOBOOKSHELF_URL="+a.BasePathURL(), "AUDIOBOOKSHELF_API_KEY="+bob)
	c.secret(bob)
	r := c.run("check", "--server", "audiobookshelf", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	m := jsonOf(t, r)
	assert.Equal(t, "bob", m["user"])
	assert.Equal(t, false, m["admin"])
	assert.Equal(t, false, m["can_manage_api_keys"])
	assert.Contains(t, m["api_keys_note"], "may not list")
	r = c.run("check", "--server", "audiobookshelf")
	assert.Contains(t, r.stdout, "admin:       false")

	k := authtest.NewKhojAnonymous(authtest.WithPrefix("/khoj"))
	t.Cleanup(k.Close)
	anon := newCLI(t, "KHOJ_URL="+k.URL)
	r = anon.run("check", "--server", "khoj", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, true, jsonOf(t, r)["anonymous"])
	for _, args := range [][]string{{"keys", "list"}, {"keys", "rotate", "--print-secret"}, {"keys", "create", "--name", "x", "--print-secret"}} {
		r = anon.run(append(args, "--server", "khoj")...)
		assert.Equal(t, 8, r.code, "%v: %s", args, r.stderr)
	}
}
