package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeysCreateListDelete: on each server with API keys, create writes the
// secret only to --out (0600) and the key works; list shows it; delete
// removes it; --print-secret prints it on stdout only.
func TestKeysCreateListDelete(t *testing.T) {
	t.Parallel()
	for _, s := range everyServer(t) {
		if s.name == "comfyui" {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			c := newCLI(t, s.env...)
			c.secret(s.secret)
			dir := t.TempDir()
			out := filepath.Join(dir, "new.key")
			r := c.run("keys", "create", "--server", s.name, "--name", "deploy", "--out", out, "--json", "--verbose")
			require.Equal(t, 0, r.code, r.stderr)
			secret := readSecretFile(t, out)
			c.secret(secret)
			c.checkSecrets(r, nil)
			noTempFiles(t, dir, "new.key")
			m := jsonOf(t, r)
			id := m["id"].(string)
			assert.Equal(t, out, m["out"])
			assert.NotContains(t, m, "secret")

			// The new key works, given as a file.
			other := newCLI(t, strings.SplitN(s.env[0], "=", 2)[0]+"="+strings.SplitN(s.env[0], "=", 2)[1])
			other.secret(secret, s.secret)
			r = other.run("check", "--server", s.name, "--api-key-file", out)
			assert.Equal(t, 0, r.code, r.stderr)

			r = c.run("keys", "list", "--server", s.name)
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, "deploy")
			assert.Contains(t, r.stdout, id)

			r = c.run("keys", "delete", "--server", s.name, id, "--json")
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, id, jsonOf(t, r)["deleted"])
			r = c.run("keys", "list", "--server", s.name, "--json")
			assert.NotContains(t, r.stdout, id)
			r = other.run("check", "--server", s.name, "--api-key-file", out)
			assert.Equal(t, 4, r.code, "the deleted key no longer works")

			r = c.run("keys", "create", "--server", s.name, "--name", "printed", "--print-secret", "--json")
			require.Equal(t, 0, r.code, r.stderr)
			printed := jsonOf(t, r)["secret"].(string)
			assert.NotEmpty(t, printed)
			assert.NotContains(t, r.stderr, printed)
			r = c.run("keys", "create", "--server", s.name, "--name", "printed-text", "--print-secret")
			require.Equal(t, 0, r.code, r.stderr)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			assert.NotEmpty(t, lines[len(lines)-1])
		})
	}
}

// TestKeysCreateReplacesFileAtomically: an existing --out file is replaced
// whole, keeps mode 0600 even if it was wider, and a symlink is replaced,
// not followed.
func TestKeysCreateReplacesFileAtomically(t *testing.T) {
	t.Parallel()
	k, key := komgaFake(t)
	c := newCLI(t, "KOMGA_URL="+k.URL, "KOMGA_API_KEY="+key)
	c.secret(key)
	dir := t.TempDir()
	out := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(out, []byte("old contents, longer than any key could ever be ........................"), 0o644))
	r := c.run("keys", "create", "--server", "komga", "--name", "a", "--out", out)
	require.Equal(t, 0, r.code, r.stderr)
	got := readSecretFile(t, out)
	assert.NotContains(t, got, "old")
	c.secret(got)
	noTempFiles(t, dir, "key")

	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(target, link))
	r = c.run("keys", "create", "--server", "komga", "--name", "b", "--out", link)
	require.Equal(t, 0, r.code, r.stderr)
	b, _ := os.ReadFile(target)
	assert.Equal(t, "keep", string(b), "the link's target is not written through")
	c.secret(readSecretFile(t, link))

	r = c.run("keys", "create", "--server", "komga", "--name", "c", "--out", dir)
	assert.Equal(t, 11, r.code, "a directory as --out: %s", r.stderr)
}

// TestInterruptedWriteLeavesNoPartialKey: a failure injected between writing
// the temporary file and renaming it leaves the old file as it was, no
// temporary file, and (for create) the new key deleted again; the same for
// a session file.
func TestInterruptedWriteLeavesNoPartialKey(t *testing.T) {
	t.Parallel()
	k, key := komgaFake(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(out, []byte("old-key\n"), 0o600))
	c := newCLI(t, "KOMGA_URL="+k.URL, "KOMGA_API_KEY="+key, "KOMGA_USERNAME="+komgaEmail, "KOMGA_PASSWORD="+komgaPass,
		"AUTHCLIENT_CLI_TEST_FAIL_BEFORE_RENAME=1")
	c.secret(key, komgaPass)
	r := c.run("keys", "create", "--server", "komga", "--name", "new", "--out", out)
	assert.Equal(t, 11, r.code, r.stderr)
	assert.Contains(t, r.stderr, "the new key was deleted again")
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "old-key\n", string(b))
	noTempFiles(t, dir, "key")
	list := newCLI(t, "KOMGA_URL="+k.URL, "KOMGA_API_KEY="+key).run("keys", "list", "--server", "komga")
	assert.NotContains(t, list.stdout, "new", "the new key was deleted")

	r = c.run("keys", "rotate", "--server", "komga", "--name", "ci", "--out", out)
	assert.Equal(t, 11, r.code, r.stderr)
	b, _ = os.ReadFile(out)
	assert.Equal(t, "old-key\n", string(b))
	noTempFiles(t, dir, "key")

	sess := filepath.Join(dir, "session")
	require.NoError(t, os.WriteFile(sess, []byte("{}\n"), 0o600))
	r = c.run("login", "--server", "komga", "--session-file", sess)
	assert.Equal(t, 11, r.code, r.stderr)
	b, _ = os.ReadFile(sess)
	assert.Equal(t, "{}\n", string(b))
	noTempFiles(t, dir, "key", "session")
}
