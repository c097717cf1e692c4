package main_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHelpForEveryCommand: every command has --help with an example and
// the exit codes, in each of the ways to ask for it.
func TestHelpForEveryCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, args := range [][]string{
		{"help"}, {"--help"}, {"-h"},
		{"check", "--help"}, {"help", "check"},
		{"keys", "list", "--help"}, {"keys", "create", "--help"}, {"keys", "delete", "-h"}, {"keys", "rotate", "--help"},
		{"login", "--help"}, {"logout", "--help"}, {"khoj", "bootstrap", "--help"}, {"help", "keys", "rotate"},
	} {
		r := c.run(args...)
		assert.Equal(t, 0, r.code, "%v", args)
		assert.Contains(t, r.stdout, "Example", "%v", args)
		assert.Contains(t, r.stdout, "Exit codes:", "%v", args)
		assert.Contains(t, r.stdout, "  4  unauthorized", "%v", args)
	}
	r := c.run("help", "keys")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "keys rotate")
}

// TestUsageErrors: every kind of bad command line exits 2 and says what to
// run, without contacting anything.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "KOMGA_URL=http://127.0.0.1:1/")
	for _, args := range [][]string{
		{},
		{"nope"},
		{"keys"},
		{"keys", "frobnicate"},
		{"khoj"},
		{"check", "--no-such-flag"},
		{"--server", "plex", "check"},
		{"check"}, // no server
		{"check", "--server", "komga", "extra"},
		{"keys", "delete", "--server", "komga"},
		{"keys", "delete", "--server", "komga", "a", "b"},
		{"keys", "create", "--server", "komga", "--name", "x"}, // no --out nor --print-secret
		{"keys", "rotate", "--server", "komga", "--id", "a", "--name", "b"},
		{"login", "--server", "komga"},
		{"logout", "--server", "komga"},
		{"khoj", "bootstrap", "--server", "khoj"},
		{"check", "--timeout", "soon"},
		{"help", "nope"},
	} {
		r := c.run(args...)
		assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
		if len(args) > 0 && args[0] != "help" {
			assert.Contains(t, r.stderr+r.stdout, "authclient", "%v", args)
		}
	}
	r := c.run("--json", "nope")
	assert.Equal(t, 2, r.code)
	assert.Equal(t, "usage", jsonOf(t, r)["category"])
}
