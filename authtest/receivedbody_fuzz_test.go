package authtest

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strings"
	"testing"
)

// FuzzMaskBody: masking a recorded body never panics, never hangs, and
// leaves no credential field of a JSON or form body that parses unmasked.
func FuzzMaskBody(f *testing.F) {
	f.Add("application/json", []byte(`{"username":"u","password":"p"}`))
	f.Add("application/json; charset=utf-8", []byte(`{"a":[{"refreshToken":"t"}],"n":1.50}`))
	f.Add("application/x-www-form-urlencoded", []byte("username=u&password=p&code=c"))
	f.Add("", []byte(`{"api_key":"k"}`))
	f.Add("text/plain", []byte("password=p"))
	f.Add("application/json", []byte(`{"password":`))
	f.Add("application/json", []byte(`{"password":null,"x":{"secret":{"deep":1}}}`))
	f.Add("application/vnd.api+json", []byte(`[{"token":"t"}] trailing`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		in := bytes.Clone(body)
		out := maskBody(contentType, body)
		if !bytes.Equal(in, body) {
			t.Fatal("maskBody changed its input")
		}
		mt, _, _ := mime.ParseMediaType(contentType)
		if mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "" {
			var v any
			if json.Unmarshal(out, &v) == nil {
				if leaked := unmasked(v); leaked != "" {
					t.Fatalf("field %q left unmasked in %s", leaked, out)
				}
			}
		}
		if bytes.Equal(out, in) {
			return
		}
		if mt == "application/x-www-form-urlencoded" {
			for _, p := range strings.Split(string(out), "&") {
				raw, value, _ := strings.Cut(p, "=")
				name, err := url.QueryUnescape(raw)
				if err != nil {
					name = raw
				}
				if credentialField(name) && value != Masked {
					t.Fatalf("field %q left unmasked", name)
				}
			}
			return
		}
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("masked JSON does not parse: %v", err)
		}
		if leaked := unmasked(v); leaked != "" {
			t.Fatalf("field %q left unmasked in %s", leaked, out)
		}
	})
}

func unmasked(v any) string {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if credentialField(k) {
				if x != nil && x != Masked {
					return k
				}
				continue
			}
			if s := unmasked(x); s != "" {
				return s
			}
		}
	case []any:
		for _, x := range v {
			if s := unmasked(x); s != "" {
				return s
			}
		}
	}
	return ""
}
