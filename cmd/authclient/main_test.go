package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bin is the CLI, built once per test binary by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authclient-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "authclient")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the CLI: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the binary with an explicit environment (never the developer's)
// and checks every run's output for the secrets it knows.
type cli struct {
	t       *testing.T
	env     []string
	secrets []string
}

func newCLI(t *testing.T, env ...string) *cli {
	return &cli{t: t, env: env}
}

// secret registers values that must never appear in the output.
// A JWT (Audiobookshelf's keys and tokens) is also checked part by part.
func (c *cli) secret(values ...string) {
	for _, v := range values {
		c.secrets = append(c.secrets, v)
		if parts := strings.Split(v, "."); len(parts) == 3 {
			for _, p := range parts[1:] {
				if len(p) >= 16 {
					c.secrets = append(c.secrets, p)
				}
			}
		}
	}
}

// result is one run.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the CLI with args and no stdin.
func (c *cli) run(args ...string) result { return c.runIn(nil, args...) }

// runIn runs the CLI with stdin and the extra environment given.
func (c *cli) runIn(stdin io.Reader, args ...string) result {
	c.t.Helper()
	cmd := exec.CommandContext(c.t.Context(), bin, args...)
	cmd.Env = append(make([]string, 0, len(c.env)), c.env...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else {
		require.NoError(c.t, err)
	}
	c.checkSecrets(r, args)
	return r
}

// checkSecrets asserts that no known secret (the old keys, passwords,
// session tokens, the secrets of earlier runs) is in the output, with
// --print-secret too: that prints only the new secret, which the caller
// registers after the run.
func (c *cli) checkSecrets(r result, args []string) {
	c.t.Helper()
	for _, s := range c.secrets {
		if s == "" {
			continue
		}
		assert.NotContains(c.t, r.stderr, s, "a secret on stderr: authclient %s", strings.Join(args, " "))
		assert.NotContains(c.t, r.stdout, s, "a secret on stdout: authclient %s", strings.Join(args, " "))
	}
}

// jsonOf decodes a run's --json stdout.
func jsonOf(t *testing.T, r result) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &m), "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	return m
}

// readFile returns the file's content and checks that only its owner may
// read it.
func readSecretFile(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "mode of %s", path)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// noTempFiles asserts that dir holds only the named files.
func noTempFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, want, names, "files left in %s", dir)
}
