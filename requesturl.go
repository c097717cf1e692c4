package authclient

import (
	"net/url"
	"slices"
	"strings"
)

// requestURL is base+path, with "?" and query encoded exactly as
// url.Values.Encode encodes it (keys sorted, each value in order,
// url.QueryEscape'd) when query has keys. It measures the result first
// and builds it in one allocation, where the concatenation of Encode's
// result makes several (its growing buffer, each escaped value, the
// concatenation itself).
func requestURL(base, path string, query url.Values) string {
	if len(query) == 0 {
		return base + path
	}
	var arr [16]string
	keys := arr[:0]
	for k := range query {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	n := len(base) + len(path) + 1
	first := true
	for _, k := range keys {
		for _, v := range query[k] {
			if !first {
				n++
			}
			first = false
			n += escapedLen(k) + 1 + escapedLen(v)
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(base)
	b.WriteString(path)
	b.WriteByte('?')
	first = true
	for _, k := range keys {
		for _, v := range query[k] {
			if !first {
				b.WriteByte('&')
			}
			first = false
			writeQueryEscaped(&b, k)
			b.WriteByte('=')
			writeQueryEscaped(&b, v)
		}
	}
	return b.String()
}

// queryUnreserved reports whether url.QueryEscape leaves c as it is.
func queryUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// escapedLen is len(url.QueryEscape(s)).
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && !queryUnreserved(c) {
			n += 2
		}
	}
	return n
}

// writeQueryEscaped writes url.QueryEscape(s) to b.
func writeQueryEscaped(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case queryUnreserved(c):
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}
