package authclient

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/selfhost-sdk/authclient/authtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fakeEnv(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func fakeFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if v, ok := files[name]; ok {
			return []byte(v), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
}

const envSecret = "S3cr3t-env-value"

func TestNewFromEnv(t *testing.T) {
	t.Parallel()
	files := fakeFiles(map[string]string{
		"/run/secrets/key":   envSecret + "\n",
		"/run/secrets/crlf":  envSecret + "\r\n",
		"/run/secrets/empty": "\n",
		"/run/secrets/twonl": envSecret + "\n\n",
	})
	tests := []struct {
		name    string
		server  Server
		vars    map[string]string
		setting string // ConfigError.Setting expected; "" for success
		auth    string // describeCredential of the resulting authenticator
		check   func(t *testing.T, c *Client)
	}{
		{name: "url only", server: Komga, vars: map[string]string{"KOMGA_URL": "http://127.0.0.1:25600"},
			auth: "no credentials were sent",
			check: func(t *testing.T, c *Client) {
				assert.Equal(t, "http://127.0.0.1:25600/", c.BaseURL())
			}},
		{name: "missing url", server: Komga, vars: map[string]string{"KOMGA_API_KEY": envSecret}, setting: "KOMGA_URL"},
		{name: "empty url counts as unset", server: Khoj, vars: map[string]string{"KHOJ_URL": ""}, setting: "KHOJ_URL"},
		{name: "bad url", server: Komga, vars: map[string]string{"KOMGA_URL": "ftp://x"}, setting: "KOMGA_URL"},
		{name: "url with credentials", server: Komga, vars: map[string]string{"KOMGA_URL": "http://u:" + envSecret + "@h/"}, setting: "KOMGA_URL"},
		{name: "api key", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h/komga", "KOMGA_API_KEY": envSecret},
			auth: "the API key (header X-API-Key) was rejected",
			check: func(t *testing.T, c *Client) {
				assert.Equal(t, "http://h/komga/", c.BaseURL())
			}},
		{name: "api key file", server: ComfyUI, vars: map[string]string{"COMFYUI_URL": "http://h", "COMFYUI_API_KEY_FILE": "/run/secrets/key"},
			auth: "the API key (Authorization: Bearer) was rejected",
			check: func(t *testing.T, c *Client) {
				assert.Equal(t, envSecret, c.authenticator().(*keyAuth).key)
			}},
		{name: "api key file crlf", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_API_KEY_FILE": "/run/secrets/crlf"},
			check: func(t *testing.T, c *Client) {
				assert.Equal(t, envSecret, c.authenticator().(*keyAuth).key)
			}},
		{name: "both key forms", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_API_KEY": envSecret, "KOMGA_API_KEY_FILE": "/run/secrets/key"}, setting: "KOMGA_API_KEY"},
		{name: "missing key file", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_API_KEY_FILE": "/nope"}, setting: "KOMGA_API_KEY_FILE"},
		{name: "empty key file", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_API_KEY_FILE": "/run/secrets/empty"}, setting: "KOMGA_API_KEY_FILE"},
		{name: "key with newline", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_API_KEY": "a\nb" + envSecret}, setting: "KOMGA_API_KEY"},
		{name: "key file with two newlines", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_API_KEY_FILE": "/run/secrets/twonl"},
			check: func(t *testing.T, c *Client) {
				assert.Equal(t, envSecret, c.authenticator().(*keyAuth).key)
			}},
		{name: "username with newline", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_USERNAME": "a\nb", "KOMGA_PASSWORD": envSecret}, setting: "KOMGA_USERNAME"},
		{name: "login", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_USERNAME": "a@b.c", "KOMGA_PASSWORD": envSecret},
			auth: "the session was rejected and could not be renewed"},
		{name: "password file", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_USERNAME": "a@b.c", "KOMGA_PASSWORD_FILE": "/run/secrets/key"},
			check: func(t *testing.T, c *Client) {
				assert.Equal(t, envSecret, c.authenticator().(*sessionAuth).password)
			}},
		{name: "key wins over login", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_API_KEY": envSecret, "KOMGA_USERNAME": "a@b.c", "KOMGA_PASSWORD": "pw"},
			auth: "the API key (header X-API-Key) was rejected"},
		{name: "password without username", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_PASSWORD": envSecret}, setting: "KOMGA_PASSWORD"},
		{name: "timeout duration", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_TIMEOUT": "45s"},
			check: func(t *testing.T, c *Client) {
				assert.Equal(t, 45*time.Second, c.hc.Transport.(*transport).timeout)
			}},
		{name: "timeout seconds", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_TIMEOUT": "7"},
			check: func(t *testing.T, c *Client) {
				assert.Equal(t, 7*time.Second, c.hc.Transport.(*transport).timeout)
			}},
		{name: "bad timeout", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_TIMEOUT": "soon"}, setting: "KOMGA_TIMEOUT"},
		{name: "negative timeout", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_TIMEOUT": "-5s"}, setting: "KOMGA_TIMEOUT"},
		{name: "max retries", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_MAX_RETRIES": "0"},
			check: func(t *testing.T, c *Client) {
				assert.Equal(t, 0, c.rc.RetryMax)
			}},
		{name: "bad max retries", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_MAX_RETRIES": "many"}, setting: "KOMGA_MAX_RETRIES"},
		{name: "negative max retries", server: Komga, vars: map[string]string{"KOMGA_URL": "http://h", "KOMGA_MAX_RETRIES": "-1"}, setting: "KOMGA_MAX_RETRIES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := newFromEnv(tt.server, fakeEnv(tt.vars), files)
			if tt.setting != "" {
				var ce *ConfigError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, tt.setting, ce.Setting)
				assert.NotContains(t, err.Error(), envSecret, "a ConfigError must never quote a secret")
				return
			}
			require.NoError(t, err)
			if tt.auth != "" {
				assert.Equal(t, tt.auth, describeCredential(c.authenticator()))
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestNewFromEnvOptionsOverride(t *testing.T) {
	t.Parallel()
	vars := fakeEnv(map[string]string{"KOMGA_URL": "http://h", "KOMGA_API_KEY": envSecret, "KOMGA_MAX_RETRIES": "5"})
	c, err := newFromEnv(Komga, vars, fakeFiles(nil), WithAuthenticator(NoAuth()), WithMaxRetries(1))
	require.NoError(t, err)
	assert.Equal(t, noAuth{}, c.authenticator())
	assert.Equal(t, 1, c.rc.RetryMax)
}

func TestNewFromEnvUnknownServer(t *testing.T) {
	t.Parallel()
	_, err := newFromEnv("jellyfin", fakeEnv(nil), fakeFiles(nil))
	var ce *ConfigError
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, "server", ce.Setting)
}

func FuzzEnvParsing(f *testing.F) {
	for _, s := range []string{"30s", "7", "-1", "1h2m", "", "9999999999999", "1e3", "\x00"} {
		f.Add("http://127.0.0.1:1/", s, s)
	}
	f.Add("https://h/komga/", "1m", "3")
	f.Add("::", "", "")
	f.Fuzz(func(t *testing.T, url, timeout, retries string) {
		vars := map[string]string{"KOMGA_URL": url, "KOMGA_TIMEOUT": timeout, "KOMGA_MAX_RETRIES": retries, "KOMGA_API_KEY": envSecret}
		c, err := newFromEnv(Komga, fakeEnv(vars), fakeFiles(nil))
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *ConfigError: %T %v", err, err)
			}
			if len(envSecret) > 0 && contains(err.Error(), envSecret) {
				t.Fatalf("error quotes the secret: %v", err)
			}
			return
		}
		if c.BaseURL() == "" || c.BaseURL()[len(c.BaseURL())-1] != '/' {
			t.Fatalf("base URL %q does not end in /", c.BaseURL())
		}
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// writeSecretFile writes content to a new file in a test's temporary
// directory and returns its path.
func writeSecretFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// Key files are trimmed of all surrounding white space, as ComfyUI's
// --api-key-file is (Python's str.strip()): every such key file, whatever
// white space an editor or echo left around the key, authenticates
// against a server started with the bare key. Through NewFromEnv, so not
// parallel (t.Setenv).
func TestNewFromEnvKeyFileSurroundingWhiteSpaceIsTrimmedLikeTheServer(t *testing.T) {
	s := setupComfy(t, comfyKey)
	for name, content := range map[string]string{
		"trailing newline":     comfyKey + "\n",
		"two newlines":         comfyKey + "\n\n",
		"trailing space":       comfyKey + " ",
		"space then newlines":  comfyKey + " \n\n",
		"CRLF":                 comfyKey + "\r\n",
		"tab and CRLF":         "\t" + comfyKey + "\r\n",
		"leading blank lines":  "\n\n  " + comfyKey,
		"vertical tab, ff":     "\v" + comfyKey + "\f",
		"no-break space, NEL":  "\u00a0" + comfyKey + "\u0085",
		"file separator US":    comfyKey + "\x1f",
		"exactly the bare key": comfyKey,
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("COMFYUI_URL", s.URL)
			t.Setenv("COMFYUI_API_KEY_FILE", writeSecretFile(t, "key", content))
			c, err := NewFromEnv(ComfyUI, fast)
			require.NoError(t, err)
			require.NoError(t, c.CheckAuth(t.Context()))
			assert.Equal(t, "Bearer "+comfyKey, s.LastHeader("GET", "/prompt").Get("Authorization"))
		})
	}
}

// A password file loses only its trailing line breaks (the shell's
// $(cat file)): a password may begin or end with a space, and Komga
// compares it exactly.
func TestNewFromEnvPasswordFileKeepsSpacesDropsTrailingLineBreaks(t *testing.T) {
	k := authtest.NewKomga()
	t.Cleanup(k.Close)
	const pw = " spaced pass\tword "
	k.AddUser("space@example.org", pw, "USER")
	for name, content := range map[string]string{
		"as is":             pw,
		"newline":           pw + "\n",
		"two newlines":      pw + "\n\n",
		"CRLF":              pw + "\r\n",
		"CRLF twice":        pw + "\r\n\r\n",
		"lone CR (old Mac)": pw + "\r",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("KOMGA_URL", k.URL)
			t.Setenv("KOMGA_USERNAME", "space@example.org")
			t.Setenv("KOMGA_PASSWORD_FILE", writeSecretFile(t, "pw", content))
			c, err := NewFromEnv(Komga, fast)
			require.NoError(t, err)
			u, err := c.CurrentUser(t.Context())
			require.NoError(t, err)
			assert.Equal(t, "space@example.org", u.Email)
		})
	}
	t.Run("trimmed would be wrong", func(t *testing.T) {
		t.Setenv("KOMGA_URL", k.URL)
		t.Setenv("KOMGA_USERNAME", "space@example.org")
		t.Setenv("KOMGA_PASSWORD_FILE", writeSecretFile(t, "pw", strings.TrimSpace(pw)+"\n"))
		c, err := NewFromEnv(Komga, fast)
		require.NoError(t, err)
		_, err = c.CurrentUser(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized, "the spaces are part of the password")
	})
}

// Secret files whose content is not a single-line secret are refused with
// a ConfigError naming the _FILE variable, never quoting the content:
// empty or blank files, and values with a line break or another control
// character inside, for key and password files alike.
func TestNewFromEnvSecretFileContentNotOneSecretIsConfigError(t *testing.T) {
	const planted = "Pl4nted-secret-value"
	for name, content := range map[string]string{
		"empty":                 "",
		"only newlines":         "\n\n",
		"only white space":      " \t \r\n ",
		"two lines":             planted + "\n" + planted + "-2\n",
		"CRLF inside":           planted + "\r\nX-Injected: 1",
		"lone CR inside":        planted + "\rmore",
		"NUL inside":            planted + "\x00tail",
		"escape inside":         planted + "\x1b[31m",
		"DEL inside":            planted + "\x7fx",
		"newline before spaces": planted + "\n  tail",
	} {
		for _, v := range []string{"KOMGA_API_KEY", "KOMGA_PASSWORD"} {
			t.Run(name+"/"+v, func(t *testing.T) {
				t.Setenv("KOMGA_URL", "http://127.0.0.1:1/")
				t.Setenv("KOMGA_USERNAME", "a@b.c")
				t.Setenv(v+"_FILE", writeSecretFile(t, "secret", content))
				c, err := NewFromEnv(Komga)
				require.Nil(t, c)
				var ce *ConfigError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, v+"_FILE", ce.Setting)
				assertNoSecret(t, err, planted)
			})
		}
	}
}
