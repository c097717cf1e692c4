package authtest

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strings"
)

// maskBody masks the credential fields of a JSON or form-encoded request
// body for [Server.Received]. A body of another type, or one that does not
// parse, is returned as it is.
func maskBody(contentType string, b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		// Pair by pair, so that a pair that does not decode cannot hide
		// the ones after it; the rest of the body stays byte for byte.
		pairs := strings.Split(string(b), "&")
		changed := false
		for i, p := range pairs {
			raw, _, _ := strings.Cut(p, "=")
			name, err := url.QueryUnescape(raw)
			if err != nil {
				name = raw
			}
			if credentialField(name) {
				pairs[i], changed = raw+"="+Masked, true
			}
		}
		if !changed {
			return b
		}
		return []byte(strings.Join(pairs, "&"))
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "" && json.Valid(b):
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil || dec.More() {
			return b
		}
		if !maskJSON(v) {
			return b
		}
		out, err := marshalCompact(v)
		if err != nil {
			return b
		}
		return out
	}
	return b
}

// maskJSON masks the credential fields of v in place and reports whether
// it masked any. encoding/json bounds the depth of v (10000).
func maskJSON(v any) bool {
	changed := false
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if credentialField(k) {
				if x != nil {
					v[k], changed = Masked, true
				}
				continue
			}
			changed = maskJSON(x) || changed
		}
	case []any:
		for _, x := range v {
			changed = maskJSON(x) || changed
		}
	}
	return changed
}

// credentialField reports whether a body field's name is a credential's.
func credentialField(name string) bool {
	n := strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(name))
	switch n {
	case "code", "codeverifier", "key", "apikey", "pass", "pwd", "otp":
		return true
	}
	for _, s := range []string{"password", "token", "secret", "apikey", "credential"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
