package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listKeys returns the keys' ids by name, through the CLI.
func listKeys(t *testing.T, c *cli, server string) map[string]string {
	t.Helper()
	r := c.run("keys", "list", "--server", server, "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var keys []struct{ ID, Name string }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &keys))
	m := map[string]string{}
	for _, k := range keys {
		m[k.Name] = k.ID
	}
	return m
}

// TestRotateTheJobsOwnKey: without --id, rotate finds the key the job uses
// (Audiobookshelf from the key, Khoj by its fingerprint, Komga by --name),
// among other keys of the user; the new key works, the old one is gone, and
// the other keys are untouched.
func TestRotateTheJobsOwnKey(t *testing.T) {
	t.Parallel()
	k, kkey := komgaFake(t)
	other := k.AddAPIKey(komgaEmail, "other")
	a, akey := absFake(t)
	aother := a.AddAPIKey("root", "other", 0, true)
	j, jtok := khojFake(t)
	jother := j.AddToken(khojEmail, "other")
	for _, tc := range []struct {
		server, urlVar, url, keyVar, key string
		extra                            []string
	}{
		{"komga", "KOMGA_URL", k.URL, "KOMGA_API_KEY", kkey, []string{"--name", "ci"}},
		{"audiobookshelf", "AUDIOBOOKSHELF_URL", a.BasePathURL(), "AUDIOBOOKSHELF_API_KEY", akey, nil},
		{"khoj", "KHOJ_URL", j.URL, "KHOJ_API_KEY", jtok, nil},
	} {
		t.Run(tc.server, func(t *testing.T) {
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "key")
			require.NoError(t, os.WriteFile(keyFile, []byte(tc.key+"\n"), 0o600))
			c := newCLI(t, tc.urlVar+"="+tc.url)
			c.secret(tc.key, other, aother, jother)
			before := listKeys(t, newCLI(t, tc.urlVar+"="+tc.url, tc.keyVar+"="+tc.key), tc.server)

			args := append([]string{"keys", "rotate", "--server", tc.server, "--api-key-file", keyFile, "--out", keyFile, "--json", "--verbose"}, tc.extra...)
			r := c.run(args...)
			require.Equal(t, 0, r.code, r.stderr)
			newKey := readSecretFile(t, keyFile)
			c.secret(newKey)
			c.checkSecrets(r, nil)
			assert.NotEqual(t, tc.key, newKey)
			m := jsonOf(t, r)
			assert.Equal(t, before["ci"], m["old_id"])
			noTempFiles(t, dir, "key")

			r = c.run("check", "--server", tc.server, "--api-key-file", keyFile)
			assert.Equal(t, 0, r.code, "the new key works: %s", r.stderr)
			old := newCLI(t, tc.urlVar+"="+tc.url, tc.keyVar+"="+tc.key)
			old.secret(tc.key)
			assert.Equal(t, 4, old.run("check", "--server", tc.server).code, "the old key is deleted")
			now := listKeys(t, newCLI(t, tc.urlVar+"="+tc.url, tc.keyVar+"="+newKey), tc.server)
			assert.Equal(t, before["other"], now["other"], "the other key is kept")
			assert.NotContains(t, now, "ci")
			assert.Len(t, now, 2)
		})
	}
}

// TestRotateKomgaByNameEveryMonth: --name finds the key again after a
// rotation stamped its name, and an ambiguous name is refused (exit 9).
func TestRotateKomgaByNameEveryMonth(t *testing.T) {
	t.Parallel()
	k, key := komgaFake(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(key), 0o600))
	c := newCLI(t, "KOMGA_URL="+k.URL, "KOMGA_API_KEY_FILE="+keyFile)
	c.secret(key)
	r := c.run("keys", "rotate", "--server", "komga", "--name", "CI", "--out", keyFile)
	require.Equal(t, 0, r.code, r.stderr)
	c.secret(readSecretFile(t, keyFile))
	assert.Contains(t, r.stdout, `"ci (rotated `)
	for month := range 3 { // the stamps of later months (the SDK stamps to the second)
		newName := fmt.Sprintf("ci (rotated 2027-0%d-01 00:00:00)", month+1)
		r := c.run("keys", "rotate", "--server", "komga", "--name", "ci", "--new-name", newName, "--out", keyFile)
		require.Equal(t, 0, r.code, r.stderr)
		c.secret(readSecretFile(t, keyFile))
		assert.Contains(t, r.stdout, newName)
	}
	assert.Len(t, listKeys(t, c, "komga"), 1)
	r = c.run("keys", "create", "--server", "komga", "--name", "ci", "--print-secret")
	require.Equal(t, 0, r.code, r.stderr)
	r = c.run("keys", "rotate", "--server", "komga", "--name", "ci", "--out", keyFile)
	assert.Equal(t, 9, r.code, r.stderr)
	assert.Contains(t, r.stderr, "2 API keys are named")
}

// TestRotateRollsBack: when verifying the new key or deleting the old one
// fails, the new key is deleted again and the old one kept and working;
// the --out file is not written, and the exit code is the cause's.
func TestRotateRollsBack(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"verify", "delete"} {
		t.Run("komga "+stage, func(t *testing.T) {
			t.Parallel()
			k, key := komgaFake(t)
			c := newCLI(t, "KOMGA_URL="+k.URL, "KOMGA_API_KEY="+key)
			c.secret(key)
			ids := listKeys(t, c, "komga")
			if stage == "verify" {
				k.Faults.FailNextOn("/api/v2/users/me", 1, http.StatusInternalServerError, -1)
			} else {
				k.Faults.FailNextOn("/api/v2/users/me/api-keys/"+ids["ci"], 1, http.StatusInternalServerError, -1)
			}
			dir := t.TempDir()
			out := filepath.Join(dir, "key")
			r := c.run("keys", "rotate", "--server", "komga", "--name", "ci", "--out", out, "--max-retries", "0")
			assert.Equal(t, 6, r.code, r.stderr)
			assert.Contains(t, r.stderr, "rolled back: the old key")
			noTempFiles(t, dir)
			assert.Equal(t, ids, listKeys(t, c, "komga"), "only the old key exists")
			assert.Equal(t, 0, c.run("check", "--server", "komga").code, "the old key works")
		})
		t.Run("audiobookshelf "+stage, func(t *testing.T) {
			t.Parallel()
			a, key := absFake(t)
			c := newCLI(t, "AUDIOBOOKSHELF_URL="+a.BasePathURL(), "AUDIOBOOKSHELF_API_KEY="+key)
			c.secret(key)
			ids := listKeys(t, c, "audiobookshelf")
			if stage == "verify" {
				a.Faults.FailNextOn("/api/me", 1, http.StatusUnauthorized, -1)
			} else {
				a.Faults.FailNextOn("/api/api-keys/"+ids["ci"], 1, http.StatusForbidden, -1)
			}
			r := c.run("keys", "rotate", "--server", "audiobookshelf", "--print-secret", "--json")
			want := map[string]int{"verify": 4, "delete": 5}[stage]
			assert.Equal(t, want, r.code, r.stdout)
			assert.Equal(t, map[string]string{"verify": "unauthorized", "delete": "forbidden"}[stage], jsonOf(t, r)["category"])
			assert.Equal(t, ids, listKeys(t, c, "audiobookshelf"), "only the old key exists")
			assert.Equal(t, 0, c.run("check", "--server", "audiobookshelf").code, "the old key works")
		})
	}
}
