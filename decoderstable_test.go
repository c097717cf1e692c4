package authclient

import "testing"

// FuzzDecoderStable: whenever decoderStable says so, every decoder returns
// the text unchanged, so scrub may skip reveal without masking less. The
// seeds are the class of what a decoder acts on: entities, JSON and
// percent escapes, '+', control and C1 characters, double spaces,
// non-ASCII.
func FuzzDecoderStable(f *testing.F) {
	for _, s := range []string{
		"http://komga.invalid:25600/api/v1/series", "Unauthorized", "a&amp;b", `a\u0041`, "a%41", "a+b",
		"a  b", "tab\tx", "c1\u0085", "é", "\x7f", "plain text with single spaces", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !decoderStable(s) {
			return
		}
		for i, dec := range decoders {
			if d := dec(s); d != s {
				t.Fatalf("decoderStable(%q), but decoder %d makes it %q", s, i, d)
			}
		}
	})
}
