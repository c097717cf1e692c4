//go:build unix

package authclient

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Secret files are read with a bound: anything but a regular file of at
// most MaxSecretFileSize bytes (after following symbolic links) is
// refused at once with a ConfigError naming the _FILE variable, without
// reading it to the end, waiting on it, or quoting its content or name.
// The class: endless devices (/dev/zero, a link to it), other devices
// (/dev/null is a device too, though empty), named pipes with no writer
// (the open itself would block), sockets, directories, files over the
// limit (sparse, so nothing is written), missing and unreadable files.
// Through NewFromEnv, so not parallel (t.Setenv).
func TestNewFromEnvSecretFileNotSmallRegularFileIsRefusedPromptly(t *testing.T) {
	const planted = "Pl4nted-secret-value"
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }

	require.NoError(t, os.Symlink("/dev/zero", path("zero-link")))
	require.NoError(t, os.Symlink(path("zero-link"), path("zero-link-link")))
	require.NoError(t, syscall.Mkfifo(path("fifo"), 0o600))
	require.NoError(t, os.Symlink(path("fifo"), path("fifo-link")))
	require.NoError(t, os.Mkdir(path("dir"), 0o700))
	require.NoError(t, os.Symlink(path("dir"), path("dir-link")))
	require.NoError(t, os.Symlink(path("nowhere"), path("dangling")))
	sock, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(sock) })
	require.NoError(t, syscall.Bind(sock, &syscall.SockaddrUnix{Name: path("sock")}))

	// A sparse 100 MB file, and files one byte over the limit, with the
	// planted secret in them.
	f, err := os.Create(path("huge"))
	require.NoError(t, err)
	_, err = f.WriteString(planted + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Truncate(100<<20))
	require.NoError(t, f.Close())
	over := planted + strings.Repeat("x", MaxSecretFileSize+1-len(planted))
	require.NoError(t, os.WriteFile(path("over"), []byte(over), 0o600))
	require.NoError(t, os.WriteFile(path("over-ws"), []byte(planted+strings.Repeat("\n", MaxSecretFileSize)), 0o600))
	require.NoError(t, os.Symlink(path("over"), path("over-link")))

	tests := map[string]struct {
		path    string
		problem string
	}{
		"/dev/zero":               {"/dev/zero", "not a regular file"},
		"link to /dev/zero":       {path("zero-link"), "not a regular file"},
		"link to link to zero":    {path("zero-link-link"), "not a regular file"},
		"/dev/null":               {"/dev/null", "not a regular file"},
		"/dev/urandom":            {"/dev/urandom", "not a regular file"},
		"named pipe, no writer":   {path("fifo"), "not a regular file"},
		"link to a named pipe":    {path("fifo-link"), "not a regular file"},
		"unix socket":             {path("sock"), "not a regular file"},
		"directory":               {path("dir"), "directory"},
		"link to a directory":     {path("dir-link"), "directory"},
		"100 MB sparse file":      {path("huge"), "larger than 64 KiB"},
		"limit + 1":               {path("over"), "larger than 64 KiB"},
		"limit + 1, white space":  {path("over-ws"), "larger than 64 KiB"},
		"link to a file too big":  {path("over-link"), "larger than 64 KiB"},
		"missing file":            {path("missing"), "no such file"},
		"dangling link":           {path("dangling"), "no such file"},
		"secret pasted as a name": {planted, "no such file"},
	}
	for name, tt := range tests {
		for _, v := range []string{"KOMGA_API_KEY", "KOMGA_PASSWORD"} {
			t.Run(name+"/"+v, func(t *testing.T) {
				t.Setenv("KOMGA_URL", "http://127.0.0.1:1/")
				t.Setenv("KOMGA_USERNAME", "a@b.c")
				t.Setenv(v+"_FILE", tt.path)
				c, err := NewFromEnv(Komga)
				require.Nil(t, c)
				var ce *ConfigError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, v+"_FILE", ce.Setting)
				assert.Contains(t, ce.Problem, tt.problem)
				assertNoSecret(t, err, planted, dir)
			})
		}
	}

	t.Run("missing file matches fs.ErrNotExist", func(t *testing.T) {
		t.Setenv("KOMGA_URL", "http://127.0.0.1:1/")
		t.Setenv("KOMGA_API_KEY_FILE", path("missing"))
		_, err := NewFromEnv(Komga)
		require.ErrorIs(t, err, fs.ErrNotExist)
		assertNoSecret(t, err, dir)
	})

	t.Run("permission denied", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads any file")
		}
		p := path("unreadable")
		require.NoError(t, os.WriteFile(p, []byte(planted), 0o000))
		t.Setenv("KOMGA_URL", "http://127.0.0.1:1/")
		t.Setenv("KOMGA_API_KEY_FILE", p)
		_, err := NewFromEnv(Komga)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "KOMGA_API_KEY_FILE", ce.Setting)
		assert.Contains(t, ce.Problem, "permission denied")
		require.ErrorIs(t, err, fs.ErrPermission)
		assertNoSecret(t, err, planted, dir)
	})
}

// Regular files up to the limit work, also through symbolic links, as
// Docker and Kubernetes mount secrets (Kubernetes: a link to a link into
// a timestamped directory).
func TestNewFromEnvSecretFileRegularWithinLimitWorks(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	require.NoError(t, os.Mkdir(path("..2026_12_01"), 0o700))
	require.NoError(t, os.WriteFile(path("..2026_12_01/key"), []byte(envSecret+"\n"), 0o600))
	require.NoError(t, os.Symlink("..2026_12_01", path("..data")))
	require.NoError(t, os.Symlink("..data/key", path("key")))
	atLimit := envSecret + strings.Repeat(" ", MaxSecretFileSize-len(envSecret)-1) + "\n"
	require.NoError(t, os.WriteFile(path("at-limit"), []byte(atLimit), 0o600))
	require.NoError(t, os.WriteFile(path("plain"), []byte(envSecret), 0o600))

	for name, p := range map[string]string{
		"plain file":                path("plain"),
		"kubernetes-style link":     path("key"),
		"exactly MaxSecretFileSize": path("at-limit"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("KOMGA_URL", "http://127.0.0.1:1/")
			t.Setenv("KOMGA_API_KEY_FILE", p)
			c, err := NewFromEnv(Komga)
			require.NoError(t, err)
			assert.Equal(t, envSecret, c.authenticator().(*keyAuth).key)
		})
	}
}
