package authclient

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// relativePath returns u's path relative to the base URL's path, decoded,
// and whether u is under the base path at all (see [underBase]).
func (c *Client) relativePath(u *url.URL) (string, bool) {
	return underBase(c.basePath, u.EscapedPath())
}

// maxDecodeRounds bounds how many times underBase percent-decodes a path;
// one still changing after that many rounds is refused.
const maxDecodeRounds = 8

// underBase is the one place that decides whether a request path stays
// under the base path, for Do's paths and redirect targets alike. base
// and p are escaped paths ("/komga/", "/komga/api/x%20y"); base ends in
// "/" or is empty (p is then relative). It returns p relative to base,
// fully decoded. It allocates only to decode.
//
// A server or a reverse proxy in front of it may decode a path once or
// several times, treat a backslash as a separator, drop ";" path
// parameters ("..;/" is ".." to Tomcat and Spring), merge empty segments
// and then resolve dot segments. p is accepted only if, in its escaped
// form and in every decoded form (percent-decoding repeated until it stops
// changing, at most maxDecodeRounds times), it starts with base (decoded
// as often) and has no "." or ".." segment under any of those readings,
// and its decoded forms hold no control characters and are valid UTF-8
// (overlong encodings of "." and "/" are not). A path without dot segments
// cannot be resolved out of its prefix, whichever of these readings a
// server applies, so there is no need to guess which one it does. Even
// with a base of "/" a dot segment is refused: the client cannot know what
// the server would make of it.
func underBase(base, p string) (rel string, ok bool) {
	for round := 0; ; round++ {
		if !strings.HasPrefix(p, base) || hasDotSegment(p) || !cleanDecoded(p) {
			return "", false
		}
		next := percentDecode(p)
		if next == p {
			return p[len(base):], true
		}
		if round == maxDecodeRounds {
			return "", false
		}
		p, base = next, percentDecode(base)
	}
}

// hasDotSegment reports whether p, split at slashes and backslashes, has a segment
// that is "." or ".." once a ";" parameter is dropped; dots include the
// Unicode look-alikes that some servers normalise to ".".
func hasDotSegment(p string) bool {
	for len(p) > 0 {
		i := strings.IndexAny(p, `/\`)
		seg := p
		if i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			p = ""
		}
		seg, _, _ = strings.Cut(seg, ";")
		if isDotSegment(seg) {
			return true
		}
	}
	return false
}

func isDotSegment(seg string) bool {
	if seg == "." || seg == ".." {
		return true
	}
	if seg == "" || len(seg) > 3*len("..") || seg[0] < utf8.RuneSelf && seg[0] != '.' {
		return false
	}
	dots := 0
	for _, r := range seg {
		switch r {
		case '.', '\uff0e', '\u2024', '\ufe52': // full stop, fullwidth, one dot leader, small
			dots++
		case '\u2025': // two dot leader
			dots += 2
		default:
			return false
		}
	}
	return dots <= 2
}

// cleanDecoded reports whether s is valid UTF-8 without control characters.
func cleanDecoded(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f {
			return false
		} else if b >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.ValidString(s)
}

// percentDecode decodes s as leniently as the most forgiving server would:
// every valid %XX escape, and IIS's %uXXXX; a "%" that starts neither is
// kept. It returns s itself, without allocating, when there is nothing to
// decode.
func percentDecode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
				b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
				i += 2
				continue
			}
			if i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') &&
				ishex(s[i+2]) && ishex(s[i+3]) && ishex(s[i+4]) && ishex(s[i+5]) {
				r := rune(unhex(s[i+2]))<<12 | rune(unhex(s[i+3]))<<8 | rune(unhex(s[i+4]))<<4 | rune(unhex(s[i+5]))
				b = utf8.AppendRune(b, r)
				i += 5
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// ErrInvalidPath is returned for a request path that could escape the base
// URL: an absolute URL, or one with "." or ".." segments in any encoding
// (decoded repeatedly, with backslashes as separators and ";" path
// parameters dropped), or an empty or slash-containing path parameter.
var ErrInvalidPath = errors.New("authclient: invalid path")

// cleanPath validates a caller-supplied path and splits off its query.
func cleanPath(path string) (p, rawQuery string, err error) {
	if strings.ContainsAny(path, "\x00\r\n\t\\#") {
		return "", "", fmt.Errorf("%w: control characters, backslashes or fragments are not allowed", ErrInvalidPath)
	}
	path, rawQuery, _ = strings.Cut(path, "?")
	if strings.HasPrefix(path, "//") || strings.Contains(path, "://") {
		return "", "", fmt.Errorf("%w: must be relative to the base URL, not an absolute URL", ErrInvalidPath)
	}
	path = strings.TrimPrefix(path, "/")
	if !plainPath(path) {
		if _, uerr := url.PathUnescape(path); uerr != nil {
			return "", "", fmt.Errorf("%w: bad escape sequence", ErrInvalidPath)
		}
		// The same check as for redirect targets, under an empty base: no
		// reading of the path ("%2e%2e", "..%2f", "%252e", "..%5c", "..;")
		// may have dot segments, which a proxy could resolve out of the base.
		if _, ok := underBase("", path); !ok {
			return "", "", fmt.Errorf("%w: path must not contain \".\" or \"..\" segments, in any encoding, nor encoded control characters", ErrInvalidPath)
		}
	}
	// What url.Parse still refuses once the checks above passed is a colon
	// in the first segment ("1a:b", ":x"): only then is it asked, so that
	// an ordinary path is not parsed just to be validated.
	if first, _, _ := strings.Cut(path, "/"); strings.IndexByte(first, ':') >= 0 {
		if _, perr := url.Parse(path); perr != nil {
			return "", "", fmt.Errorf("%w: not a valid URL path", ErrInvalidPath)
		}
	}
	return path, rawQuery, nil
}

// plainPath reports whether p is printable ASCII without "%", ";", `\` or
// ".": every reading of it (decoded, with backslashes as separators, ";"
// parameters dropped) is p itself, and p has no dot segment, so underBase
// accepts it and cleanPath need not decode it. Most API paths are plain.
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c <= ' ' || c >= 0x7f, c == '%', c == ';', c == '\\', c == '.':
			return false
		}
	}
	return true
}

// joinPath builds an endpoint path from fixed parts and path parameters;
// parameters are escaped with url.PathEscape and may not be empty, contain
// "/" or a backslash, or be a dot segment in any reading a proxy might give them
// ("%2e%2e" is escaped to "%252e%252e", which a proxy that decodes twice
// resolves to ".."): the same check as for Do's paths.
func joinPath(prefix string, params ...string) (string, error) {
	var b strings.Builder
	b.WriteString(prefix)
	for _, p := range params {
		if p == "" || strings.ContainsAny(p, "/\\") || strings.ContainsFunc(p, isControl) {
			return "", fmt.Errorf("%w: path parameter must be non-empty and not contain \"/\"", ErrInvalidPath)
		}
		e := url.PathEscape(p)
		if _, ok := underBase("", e); !ok {
			return "", fmt.Errorf("%w: path parameter must not be \".\" or \"..\" in any encoding", ErrInvalidPath)
		}
		b.WriteByte('/')
		b.WriteString(e)
	}
	return b.String(), nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
