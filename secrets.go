package authclient

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// secretSet is the set of credential strings the client knows, used to mask
// them in anything it prints: server messages and codes that echo them
// back, URLs, transport and authenticator errors, log lines.
//
// A credential enters the set the moment the client makes or receives it,
// before it is sent: the ones the client was given (passwords, API keys,
// cookies, [WithHeader] values: kept) are never dropped; the ones it
// collects on the way (session and refresh tokens, created keys, sign-in
// codes, PKCE verifiers, values a custom Authenticator set: added) are
// bounded to the most recently used maxSecrets, so that a service
// refreshing a token every hour does not grow the set forever (old tokens
// have expired). A value used again moves back to the front, so a custom
// Authenticator that sends the same token on every call keeps it however
// many one-off values another mints.
//
// Each credential is masked in every form an echo may take: as it is,
// URL-escaped (query and path), HTML-escaped (as Go, Python and Express
// write entities), JSON-escaped (with and without Go's \u003c forms, and
// ASCII-only), and with white space folded as [cleanText] folds it; a hex
// key or a UUID in any mix of cases. A text
// that hides one behind other encodings (numeric entities, lower-case
// percent escapes, two layers of escaping) is decoded, and the decoded text
// masked, when a decoded form shows a credential. A credential cut off by a
// truncation ("abcd…") is masked too. Strings shorter than minSecret bytes
// are not masked: replacing them would garble messages without protecting
// anything (such a secret is guessable anyway).
type secretSet struct {
	// fresh is the value note last found fresh (known, and not among the
	// older half of the collected ones), stored under the read lock and
	// cleared under the write lock by every change: a session token
	// noted on every call is then checked without a lock.
	fresh  atomic.Pointer[string]
	mu     sync.RWMutex
	kept   []secretEntry
	recent []secretEntry // oldest first
	forms  []string      // every form of every entry, longest first
	fold   []string      // the forms of caseless entries, lower-cased, longest first
	known  map[string]bool
}

// secretEntry is one credential and the forms it is masked in.
type secretEntry struct {
	value string
	forms []string
}

const (
	// maxSecrets bounds the collected credentials (not the kept ones).
	maxSecrets = 32
	// minSecret is the shortest string masked.
	minSecret = 4
	// minCutPrefix is the shortest start of a credential masked when it
	// ends a text without an ellipsis (a server that cut the echo itself).
	minCutPrefix = 8
	// maxDecodeDepth bounds the layers of escaping scrub looks through.
	maxDecodeDepth = 2
	// maxScrubRounds bounds how often scrub decodes a text to mask it.
	maxScrubRounds = 4
	// maxScrubText bounds the text scrub decodes; longer text is only
	// masked for the forms registered.
	maxScrubText = 16 << 10
	// maxCuts bounds the ellipses maskCut looks behind.
	maxCuts = 16
)

// redacted replaces every masked credential.
const redacted = "REDACTED"

// keep adds long-lived credentials, which stay in the set.
func (s *secretSet) keep(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh.Store(nil)
	changed := false
	for _, v := range secrets {
		if len(v) < minSecret || indexEntry(s.kept, v) >= 0 {
			continue
		}
		if i := indexEntry(s.recent, v); i >= 0 {
			s.kept = append(s.kept, s.recent[i])
			s.recent = slices.Delete(s.recent, i, i+1)
			continue // same forms: nothing to rebuild
		}
		s.kept = append(s.kept, newEntry(v))
		changed = true
	}
	if changed {
		s.rebuild()
	}
}

// add adds credentials the client came across; only the most recently
// used maxSecrets of them stay.
func (s *secretSet) add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fresh.Store(nil)
	changed := false
	for _, v := range secrets {
		if len(v) < minSecret || indexEntry(s.kept, v) >= 0 {
			continue
		}
		if i := indexEntry(s.recent, v); i >= 0 {
			// Used again: move it to the newest end.
			e := s.recent[i]
			s.recent = append(slices.Delete(s.recent, i, i+1), e)
			continue
		}
		s.recent = append(s.recent, newEntry(v))
		changed = true
	}
	if n := len(s.recent) - maxSecrets; n > 0 {
		s.recent = append(s.recent[:0:0], s.recent[n:]...)
		changed = true
	}
	if changed {
		s.rebuild()
	}
}

// note reports whether a credential seen on an outgoing request must be
// added (or moved to the newest end); when it is known and recent it
// costs a map look-up under the read lock, and nothing but an atomic load
// when it is the value last found so (a session's token, call after call).
func (s *secretSet) note(v string) bool {
	if len(v) < minSecret {
		return false
	}
	if p := s.fresh.Load(); p != nil && *p == v {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	fresh := s.known[v] && indexEntry(s.recent[:len(s.recent)/2], v) < 0
	if fresh {
		s.fresh.Store(&v) // under the read lock: no change is under way
	}
	return !fresh
}

// has reports whether v is a credential, or a form of one, in the set.
func (s *secretSet) has(v string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.known[v]
}

func indexEntry(list []secretEntry, v string) int {
	for i := range list {
		if list[i].value == v {
			return i
		}
	}
	return -1
}

// rebuild recomputes forms and known; the caller holds the write lock.
func (s *secretSet) rebuild() {
	s.forms, s.fold = s.forms[:0], s.fold[:0]
	clear(s.known)
	if s.known == nil {
		s.known = make(map[string]bool)
	}
	for _, list := range [2][]secretEntry{s.kept, s.recent} {
		for _, e := range list {
			for _, f := range e.forms {
				if !s.known[f] {
					s.known[f] = true
					s.forms = append(s.forms, f)
				}
			}
			if caseless(e.value) {
				for _, f := range e.forms {
					if lf := asciiLower(f); !slices.Contains(s.fold, lf) {
						s.fold = append(s.fold, lf)
					}
				}
			}
		}
	}
	// Longest first, so that a credential inside another (a key inside a
	// header value) never leaves the rest of the longer one behind.
	slices.SortStableFunc(s.forms, func(a, b string) int { return len(b) - len(a) })
	slices.SortStableFunc(s.fold, func(a, b string) int { return len(b) - len(a) })
}

func newEntry(v string) secretEntry { return secretEntry{value: v, forms: formsOf(v)} }

// formsOf lists the forms v may take when a server or proxy echoes it: as
// it is, URL-escaped, HTML-escaped, JSON-escaped and white-space-folded.
func formsOf(v string) []string {
	forms := []string{v}
	addForm := func(f string) {
		if len(f) >= minSecret && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	addForm(url.QueryEscape(v))
	addForm(url.PathEscape(v))
	addForm(html.EscapeString(v)) // Go: &#34; and &#39;, as html/template too
	addForm(htmlPython.Replace(v))
	addForm(htmlExpress.Replace(v))
	addForm(jsonEscape(v, true))
	addForm(jsonEscape(v, false))
	addForm(jsonASCII(v))
	addForm(cleanText(v))
	return forms
}

var (
	// htmlPython escapes as Python's html.escape does.
	htmlPython = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;")
	// htmlExpress escapes as the escape-html package (Express) does.
	htmlExpress = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")
)

// jsonEscape is v as encoding/json writes it inside a string, without the
// quotes: with Go's \u003c, \u003e and \u0026 forms, or without them.
func jsonEscape(v string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if enc.Encode(v) != nil {
		return v
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return strings.TrimSuffix(strings.TrimPrefix(out, `"`), `"`)
}

// jsonASCII is v JSON-escaped with every non-ASCII character as \uXXXX, as
// Python's json.dumps writes it.
func jsonASCII(v string) string {
	s := jsonEscape(v, false)
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			writeU(&b, 0xd800+(r>>10))
			writeU(&b, 0xdc00+(r&0x3ff))
		default:
			writeU(&b, r)
		}
	}
	return b.String()
}

func writeU(b *strings.Builder, r rune) {
	const hex = "0123456789abcdef"
	b.WriteString(`\u`)
	b.WriteByte(hex[r>>12&0xf])
	b.WriteByte(hex[r>>8&0xf])
	b.WriteByte(hex[r>>4&0xf])
	b.WriteByte(hex[r&0xf])
}

// basicSecrets lists what HTTP Basic with username and password puts on
// the wire: the password and "username:password" in the Base64 forms a
// proxy may echo (standard and URL alphabets, padded or not).
func basicSecrets(username, password string) []string {
	pair := []byte(username + ":" + password)
	return []string{
		password,
		base64.StdEncoding.EncodeToString(pair),
		base64.RawStdEncoding.EncodeToString(pair),
		base64.URLEncoding.EncodeToString(pair),
		base64.RawURLEncoding.EncodeToString(pair),
	}
}

// headerSecrets lists the credentials a header value carries: the value;
// after an authentication scheme ("Bearer tok", "Token tok") the
// credential; for Basic the decoded password too; for a Cookie header each
// cookie's value.
func headerSecrets(name, value string) []string {
	out := []string{value}
	if scheme, rest, ok := strings.Cut(value, " "); ok && isAuthScheme(scheme) {
		rest = strings.TrimSpace(rest)
		out = append(out, rest)
		if strings.EqualFold(scheme, "Basic") {
			dec, err := base64.StdEncoding.DecodeString(rest)
			if err != nil {
				dec, err = base64.RawStdEncoding.DecodeString(rest)
			}
			if user, pw, ok := strings.Cut(string(dec), ":"); err == nil && ok {
				out = append(out, basicSecrets(user, pw)...)
			}
		}
	}
	if strings.EqualFold(name, "Cookie") {
		for pair := range strings.SplitSeq(value, ";") {
			_, v, _ := strings.Cut(pair, "=")
			out = append(out, strings.Trim(strings.TrimSpace(v), `"`))
		}
	}
	return out
}

// isAuthScheme reports whether s looks like an HTTP authentication scheme
// (a token such as Bearer, Basic, Token, ApiKey).
func isAuthScheme(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// scrub masks every credential of the set in text, in every form: the
// registered forms first, then forms that only show once text is decoded
// (the decoded text is returned, masked), then credentials cut off by a
// truncation.
func (s *secretSet) scrub(text string) string {
	if text == "" {
		return text
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.forms) == 0 {
		return text
	}
	text = s.replace(text)
	for range maxScrubRounds {
		if len(text) > maxScrubText {
			break
		}
		if decoderStable(text) {
			break // reveal would find nothing: no decoder changes text
		}
		dec, ok := s.reveal(text)
		if !ok {
			break
		}
		text = s.replace(dec)
	}
	return s.maskCut(text)
}

// replace masks every registered form in text, and the forms of caseless
// credentials in any mix of cases.
func (s *secretSet) replace(text string) string {
	for _, f := range s.forms {
		if strings.Contains(text, f) {
			text = strings.ReplaceAll(text, f, redacted)
		}
	}
	if len(s.fold) == 0 {
		return text
	}
	lower := asciiLower(text)
	for _, f := range s.fold {
		for n := 0; n < len(text); n++ { // each pass masks one; bounded
			i := strings.Index(lower, f)
			if i < 0 {
				break
			}
			text = text[:i] + redacted + text[i+len(f):]
			lower = lower[:i] + redacted + lower[i+len(f):]
		}
	}
	return text
}

// contains reports whether text holds a registered form (a caseless
// credential's in any case).
func (s *secretSet) contains(text string) bool {
	for _, f := range s.forms {
		if strings.Contains(text, f) {
			return true
		}
	}
	if len(s.fold) > 0 {
		lower := asciiLower(text)
		for _, f := range s.fold {
			if strings.Contains(lower, f) {
				return true
			}
		}
	}
	return false
}

// caseless reports whether v is written in an alphabet without case, so
// that any mix of its letters' cases is the same credential: hex digits,
// with the dashes of a UUID, and at least one letter (a Komga API key, a
// Komga session id). An echo may change their case (a header dump
// upper-cased, hex re-encoded in capitals), and a reader who sees
// "0F40BA0A-…" has the credential.
func caseless(v string) bool {
	letters := false
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case b >= '0' && b <= '9', b == '-':
		case b >= 'a' && b <= 'f', b >= 'A' && b <= 'F':
			letters = true
		default:
			return false
		}
	}
	return letters
}

// asciiLower lower-cases the ASCII letters of s only, so that byte offsets
// in the result are offsets in s.
func asciiLower(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= 'A' && r <= 'Z' }) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// reveal decodes text (up to maxDecodeDepth layers of HTML entities, JSON
// escapes, percent escapes, "+" for space and white-space folding) and
// returns the first decoded form that shows a credential.
func (s *secretSet) reveal(text string) (string, bool) {
	views := []string{text}
	for range maxDecodeDepth {
		var next []string
		for _, v := range views {
			for _, dec := range decoders {
				d := dec(v)
				if d == v || slices.Contains(next, d) {
					continue
				}
				if s.contains(d) {
					return d, true
				}
				next = append(next, d)
			}
		}
		views = next
	}
	return "", false
}

// decoderStable reports, cheaply, that every one of decoders returns text
// unchanged, so that [secretSet.reveal] has nothing to look at: printable
// ASCII without the bytes a decoder acts on ('&', '\\', '%', '+') and
// without a double space. Anything else (non-ASCII included) goes through
// reveal.
func decoderStable(text string) bool {
	prev := byte(0)
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c < 0x20 || c >= 0x7f || c == '&' || c == '\\' || c == '%' || c == '+' || c == ' ' && prev == ' ' {
			return false
		}
		prev = c
	}
	return true
}

// decoders undo the transformations an echo may apply to a credential.
// Each returns its input unchanged when it has nothing to decode.
var decoders = []func(string) string{
	func(t string) string {
		if !strings.Contains(t, "&") {
			return t
		}
		return html.UnescapeString(t)
	},
	jsonUnescape,
	percentDecode,
	func(t string) string { return strings.ReplaceAll(t, "+", " ") },
	foldSpace,
}

// foldSpace folds white space and control characters as [cleanText] does,
// without bounding the length.
func foldSpace(t string) string {
	if !strings.ContainsFunc(t, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) &&
		!strings.Contains(t, "  ") {
		return t
	}
	return cleanText(t)
}

// jsonUnescape decodes JSON string escapes (\" \\ \/ \b \f \n \r \t and
// \uXXXX, surrogate pairs included) wherever they appear, leaving anything
// else as it is.
func jsonUnescape(t string) string {
	i := strings.IndexByte(t, '\\')
	if i < 0 {
		return t
	}
	var b strings.Builder
	b.Grow(len(t))
	b.WriteString(t[:i])
	for ; i < len(t); i++ {
		c := t[i]
		if c != '\\' || i+1 >= len(t) {
			b.WriteByte(c)
			continue
		}
		switch e := t[i+1]; e {
		case '"', '\\', '/':
			b.WriteByte(e)
			i++
		case 'b', 'f', 'n', 'r', 't':
			b.WriteByte("\b\f\n\r\t"[strings.IndexByte("bfnrt", e)])
			i++
		case 'u':
			r, n := parseU(t[i:])
			if n == 0 {
				b.WriteByte(c)
				continue
			}
			if r >= 0xd800 && r < 0xdc00 {
				if r2, n2 := parseU(t[i+n:]); n2 > 0 && r2 >= 0xdc00 && r2 < 0xe000 {
					r = 0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00)
					n += n2
				}
			}
			b.WriteRune(r)
			i += n - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseU parses a \uXXXX escape at the start of t; n is 0 if there is none.
func parseU(t string) (r rune, n int) {
	if len(t) < 6 || t[0] != '\\' || t[1] != 'u' {
		return 0, 0
	}
	for _, c := range []byte(t[2:6]) {
		if !ishex(c) {
			return 0, 0
		}
		r = r<<4 | rune(unhex(c))
	}
	return r, 6
}

// maskCut masks the start of a credential that a truncation cut off: the
// bytes before an ellipsis ("…" or "...") that begin a credential, at
// least minSecret of them (for the first maxCuts ellipses), and at the end
// of the text at least minCutPrefix.
func (s *secretSet) maskCut(text string) string {
	for _, mark := range [2]string{"…", "..."} {
		for from, n := 0, 0; n < maxCuts; n++ {
			i := strings.Index(text[from:], mark)
			if i < 0 {
				break
			}
			i += from
			if k := s.cutPrefix(text[:i], minSecret); k > 0 {
				text = text[:i-k] + redacted + text[i:]
				i += len(redacted) - k
			}
			from = i + len(mark)
		}
	}
	if k := s.cutPrefix(text, minCutPrefix); k > 0 {
		text = text[:len(text)-k] + redacted
	}
	return text
}

// cutPrefix returns the length of the longest proper start of a credential
// (at least least bytes) that text ends with, or 0.
func (s *secretSet) cutPrefix(text string, least int) int {
	if len(text) < least {
		return 0
	}
	best, last := 0, text[len(text)-1]
	for _, f := range s.forms {
		for k := min(len(f)-1, len(text)); k >= least && k > best; k-- {
			if f[k-1] == last && strings.HasSuffix(text, f[:k]) {
				best = k
				break
			}
		}
	}
	return best
}
