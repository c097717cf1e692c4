package authclient

import (
	"strings"
	"testing"
)

// cleanTextReference is cleanText as it was before its fast path: the
// text rebuilt rune by rune. FuzzCleanText holds the two equal.
func cleanTextReference(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == ' ' || (r >= 0x80 && r < 0xa0) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// FuzzCleanText: cleanText returns text that is already clean as it is,
// and anything else as the rune-by-rune rebuild makes it. The seeds cover
// the class of what must be rebuilt: leading, trailing and doubled
// spaces, tabs and newlines, C0, DEL and C1 controls, invalid UTF-8, and
// the U+FFFD that is valid.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{
		"Unauthorized", "Invalid or missing API key", " lead", "trail ", "two  spaces",
		"tab\there", "line\nbreak", "cr\r\n", "nul\x00", "del\x7f", "c1\u0085x", "bad\xffutf8",
		"ok \uFFFD replacement", "é accents ü", "  ", " ", "\u00a0nbsp", "a\u2028b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := cleanText(s), cleanTextReference(s); got != want {
			t.Fatalf("cleanText(%q) = %q, want %q", s, got, want)
		}
	})
}
