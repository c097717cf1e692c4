package audiobookshelf

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/selfhost-sdk/authclient"
)

// IdPError is the identity provider's refusal of an OpenID sign-in, read
// from the error and error_description parameters of the callback URL
// given to [Client.FinishOpenIDLogin]. It matches
// authclient.ErrUnauthorized (errors.Is): the sign-in was refused, as a
// wrong password is.
type IdPError struct {
	// Code is the OAuth error code (access_denied, login_required, …), or
	// "invalid" when the callback's is not one (not a short token of
	// letters, digits and "_.-").
	Code string
	// Description is the provider's error_description, if any: printable
	// text on one line, at most 200 bytes, with the sign-in's state, code
	// and verifier masked.
	Description string
}

// Error returns "audiobookshelf: the identity provider refused the
// sign-in: code (description)".
func (e *IdPError) Error() string {
	msg := "audiobookshelf: the identity provider refused the sign-in: " + e.Code
	if e.Description != "" {
		msg += " (" + e.Description + ")"
	}
	return msg
}

// Is reports whether target is authclient.ErrUnauthorized.
func (e *IdPError) Is(target error) bool { return target == authclient.ErrUnauthorized }

const (
	maxIdPCode        = 64
	maxIdPDescription = 200
)

// newIdPError makes the error of a callback's error parameters, masking
// the sign-in's secrets in them.
func newIdPError(code, description string, secrets ...string) *IdPError {
	e := &IdPError{Code: "invalid"}
	if validIdPCode(code) && !containsAny(code, secrets) {
		e.Code = code
	}
	d := strings.Join(strings.FieldsFunc(description, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }), " ")
	for _, s := range secrets {
		if len(s) >= 4 {
			d = strings.ReplaceAll(d, s, "REDACTED")
		}
	}
	if len(d) > maxIdPDescription {
		cut := maxIdPDescription
		for cut > 0 && !utf8.RuneStart(d[cut]) {
			cut--
		}
		d = d[:cut] + "…"
	}
	e.Description = d
	return e
}

func validIdPCode(s string) bool {
	if s == "" || len(s) > maxIdPCode {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

func containsAny(s string, secrets []string) bool {
	for _, v := range secrets {
		if len(v) >= 4 && strings.Contains(s, v) {
			return true
		}
	}
	return false
}
