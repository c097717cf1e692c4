package main_test

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKhojBootstrap: the CLI asks Khoj to e-mail a code, reads it from stdin
// once it says so, and writes the minted, named token to --out (0600); the
// code and the token appear in no output.
func TestKhojBootstrap(t *testing.T) {
	t.Parallel()
	k, _ := khojFake(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "khoj.token")
	cmd := exec.CommandContext(t.Context(), bin, "khoj", "bootstrap", "--email", "new@example.org", "--name", "ci-job", "--out", out, "--json", "--verbose")
	cmd.Env = []string{"KHOJ_URL=" + k.URL}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	require.NoError(t, cmd.Start())

	var errText strings.Builder
	br := bufio.NewReader(stderr)
	for { // wait for the prompt: the code has been e-mailed by then
		line, err := br.ReadString('\n')
		errText.WriteString(line)
		require.NoError(t, err, "no prompt; stderr: %s", errText.String())
		if strings.Contains(line, "Type it and press Enter") {
			break
		}
	}
	code := k.MagicCode("new@example.org")
	require.NotEmpty(t, code)
	_, err = io.WriteString(stdin, code+"\n")
	require.NoError(t, err)
	stdin.Close()
	rest, _ := io.ReadAll(br)
	errText.Write(rest)
	require.NoError(t, cmd.Wait(), errText.String())

	token := readSecretFile(t, out)
	assert.Equal(t, []string{token}, k.Tokens("new@example.org"))
	r := result{stdout: stdout.String(), stderr: errText.String()}
	c := newCLI(t, "KHOJ_URL="+k.URL)
	c.secret(token, code)
	c.checkSecrets(r, nil)
	assert.Equal(t, "ci-job", jsonOf(t, r)["name"])
	noTempFiles(t, dir, "khoj.token")

	r = c.run("check", "--server", "khoj", "--api-key-file", out)
	assert.Equal(t, 0, r.code, r.stderr)
}

// TestKhojBootstrapRefused: a wrong code (exit 4), no code, a line too long
// or with control characters (exit 2), and a name too long (exit 3) leave no
// token file and mint nothing.
func TestKhojBootstrapRefused(t *testing.T) {
	t.Parallel()
	k, _ := khojFake(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "tok")
	c := newCLI(t, "KHOJ_URL="+k.URL)
	for _, tc := range []struct {
		stdin string
		name  string
		code  int
	}{
		{"000000\n", "n", 4},
		{"", "n", 2},
		{"\n", "n", 2},
		{strings.Repeat("1", 300) + "\n", "n", 2},
		{"12\x0034\n", "n", 2},
		{"123456\n", strings.Repeat("x", 51), 3},
	} {
		r := c.runIn(strings.NewReader(tc.stdin), "khoj", "bootstrap", "--email", khojEmail, "--name", tc.name, "--out", out)
		assert.Equal(t, tc.code, r.code, "%q: %s", tc.stdin, r.stderr)
		assert.NoFileExists(t, out)
	}
	noTempFiles(t, dir)
	assert.Len(t, k.Tokens(khojEmail), 1, "only the fake's own token")
}
