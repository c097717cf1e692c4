package authclient_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/selfhost-sdk/authclient"
)

// OneLine is the client's own printing of server text, for text a program
// shows itself: every kind of unprintable input (control characters, line
// breaks, bad UTF-8, C1 controls, runs of space) comes out as one line,
// and a cut never splits a rune.
func TestOneLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 0, "plain"},
		{"line1\r\nline2\x00\tend", 0, "line1 line2 end"},
		{"  leading and   inner  ", 0, "leading and inner"},
		{"bad \xff\xfe byte", 0, "bad \uFFFD byte"},
		{"c1\u0085control", 0, "c1 control"},
		{"abcdef", 4, "abcd…"},
		{"ééé", 3, "é…"},
		{"short", 10, "short"},
		{"", 5, ""},
	} {
		got := authclient.OneLine(tc.in, tc.max)
		assert.Equal(t, tc.want, got, "%q", tc.in)
		assert.True(t, utf8.ValidString(got))
		assert.False(t, strings.ContainsAny(got, "\r\n\x00\t"))
	}
}
