package main

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/selfhost-sdk/authclient"
)

// FuzzParseSession: any session file content gives a session of the right
// server or a *ConfigError that quotes nothing of the file; never a panic.
func FuzzParseSession(f *testing.F) {
	f.Add([]byte(`{"server":"komga","token":"abc"}`))
	f.Add([]byte(`{"server":"audiobookshelf","token":"t","refresh_token":"r","expiry":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"server":"komga"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSession(b, authclient.Komga)
		if err != nil {
			var ce *authclient.ConfigError
			if !asConfig(err, &ce) {
				t.Fatalf("not a *ConfigError: %T", err)
			}
			if len(b) >= 8 && utf8.Valid(b) && strings.Contains(err.Error(), string(b)) {
				t.Fatalf("the error quotes the file: %v", err)
			}
			return
		}
		if s.Server != authclient.Komga {
			t.Fatalf("a session of %q accepted", s.Server)
		}
	})
}

// FuzzReadCode: any stdin gives a one-line code without control
// characters, bounded, or a usage error; never a panic.
func FuzzReadCode(f *testing.F) {
	f.Add("123456\n")
	f.Add("  123456  \r\n")
	f.Add("")
	f.Add("12\x0034")
	f.Add(strings.Repeat("9", 300))
	f.Fuzz(func(t *testing.T, in string) {
		code, err := readCode(strings.NewReader(in))
		if err != nil {
			if _, ok := err.(*usageError); !ok {
				t.Fatalf("not a usage error: %T", err)
			}
			return
		}
		if code == "" || len(code) > maxCodeLine || strings.ContainsAny(code, "\r\n\x00") {
			t.Fatalf("bad code %q", code)
		}
	})
}

func asConfig(err error, ce **authclient.ConfigError) bool {
	c, ok := err.(*authclient.ConfigError)
	*ce = c
	return ok
}
