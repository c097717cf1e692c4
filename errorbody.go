package authclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// errorBody is the union of the error shapes the four servers use. It is
// decoded in one pass: the fields that take several shapes decode
// themselves in place, without a copy of their raw JSON to decode again.
type errorBody struct {
	Status     present         `json:"status"` // Spring Boot's shape has it; its "error" is then only the reason phrase
	Message    messageField    `json:"message"`
	Error      errorField      `json:"error"`
	Detail     json.RawMessage `json:"detail"`
	Violations []struct {
		FieldName string `json:"fieldName"`
		Message   string `json:"message"`
	} `json:"violations"`
}

// present records that a field is there, whatever its value (null too).
type present bool

func (p *present) UnmarshalJSON([]byte) error { *p = true; return nil }

// messageField is a string field that may be null or absent (set false),
// and must be a string when it is there: anything else fails the decoding,
// as it would for a *string.
type messageField struct {
	set  bool
	text string
}

var errNotString = errors.New("not a JSON string")

func (m *messageField) UnmarshalJSON(data []byte) error {
	*m = messageField{}
	switch data[0] {
	case 'n':
		return nil
	case '"':
		m.set = true
		return jsonString(data, &m.text)
	}
	return errNotString
}

// errorField is the "error" field: a string (its text), an object
// {"type", "message"} (its code and text), or anything else (nothing).
type errorField struct {
	text, code string
}

func (f *errorField) UnmarshalJSON(data []byte) error {
	*f = errorField{}
	switch data[0] {
	case '"':
		_ = jsonString(data, &f.text)
	case '{':
		var obj struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &obj) == nil {
			f.code, f.text = obj.Type, obj.Message
		}
	}
	return nil
}

// jsonString decodes data, a valid JSON string, into s: by a plain copy
// when it has no escapes and is valid UTF-8 (the usual case), else with
// encoding/json, which also replaces invalid UTF-8 as it does everywhere.
func jsonString(data []byte, s *string) error {
	inner := data[1 : len(data)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		*s = string(inner)
		return nil
	}
	return json.Unmarshal(data, s)
}

// rawErrorBody extracts the server's message and code from an error body of
// any of the shapes the servers use: Spring Boot's {"message": …} (Komga),
// Komga's {"violations": […]}, {"error": "…"} (Audiobookshelf, ComfyUI),
// {"error": {"type", "message"}} (ComfyUI prompt validation), FastAPI's
// {"detail": "…"} or {"detail": […{"msg"}]} (Khoj), plain text, and HTML error
// pages. It never fails: unknown shapes give an empty message. The text is
// returned as the server wrote it, so that masking sees a secret in the form
// it was echoed in; [secretSet.serverText] then masks, cleans and bounds it.
func rawErrorBody(contentType string, body []byte) (message, code string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", ""
	}
	if body[0] == '{' {
		var eb errorBody
		if decodeErrorBody(body, &eb) {
			return fromErrorBody(&eb)
		}
	}
	if bytes.HasPrefix(body, []byte("<")) {
		return htmlText(body), ""
	}
	if strings.Contains(contentType, "html") && bytes.Contains(body, []byte("</")) {
		return htmlText(body), ""
	}
	if strings.Contains(contentType, "json") || body[0] == '[' || body[0] == '{' {
		return "", ""
	}
	return string(body), ""
}

// maxRawText bounds the server text the client masks and cleans.
const maxRawText = 8 << 10

// serverText makes text from a server safe to print. The client's secrets
// are masked first, in the text as it came: cleaning would change the form
// of a secret (folding "correct  horse" into "correct horse") and the mask
// would miss it. Then the text is cleaned to one line, masked again (the
// folded form of a secret, whatever white space the echo put in it) and
// bounded. Every cut comes after a masking, except the first bound on the
// raw text, and a secret cut there is masked by its start.
func (s *secretSet) serverText(raw string) string {
	if raw == "" {
		return ""
	}
	t := cleanText(s.scrub(truncate(raw, maxRawText)))
	return truncate(s.scrub(t), 4*maxMessage)
}

func fromErrorBody(eb *errorBody) (message, code string) {
	if len(eb.Violations) > 0 {
		parts := make([]string, 0, len(eb.Violations))
		for _, v := range eb.Violations {
			if v.FieldName != "" {
				parts = append(parts, v.FieldName+": "+v.Message)
			} else {
				parts = append(parts, v.Message)
			}
		}
		return strings.Join(parts, "; "), ""
	}
	errText := eb.Error.text
	code = eb.Error.code
	switch {
	case eb.Message.set && eb.Message.text != "":
		message = eb.Message.text
		if code == "" && errText != "" && errText != message && !bool(eb.Status) {
			// ComfyUI's 401: {"error": "Unauthorized", "message": "Invalid or missing API key…"}.
			code = errText
		}
	case errText != "":
		message = errText
	case len(eb.Detail) > 0:
		message = detailText(eb.Detail)
	}
	if code == "" && isKomgaCode(message) {
		code = message
	}
	return message, code
}

// detailText flattens FastAPI's "detail", a string or a list of
// {"loc", "msg"} validation errors.
func detailText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &list) != nil {
		return ""
	}
	parts := make([]string, 0, len(list))
	for _, d := range list {
		loc := make([]string, 0, len(d.Loc))
		for _, l := range d.Loc {
			loc = append(loc, fmt.Sprint(l))
		}
		if len(loc) > 0 {
			parts = append(parts, strings.Join(loc, ".")+": "+d.Msg)
		} else {
			parts = append(parts, d.Msg)
		}
	}
	return strings.Join(parts, "; ")
}

// isKomgaCode reports whether s looks like a Komga error code (ERR_ and four digits).
func isKomgaCode(s string) bool {
	if len(s) != 8 || !strings.HasPrefix(s, "ERR_") {
		return false
	}
	for _, c := range s[4:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// htmlText returns the raw text of a small HTML error page: the contents
// of its first non-blank <pre> (Express), else its <title>, else its <h1>,
// else nothing.
func htmlText(body []byte) string {
	// asciiLower keeps body's length and offsets: bytes.ToLower turns an
	// invalid UTF-8 byte into a 3-byte U+FFFD, and offsets found in its
	// result would cut body wrongly, or past its end.
	lower := asciiLower(string(body))
	for _, tag := range []string{"pre", "title", "h1"} {
		open := strings.Index(lower, "<"+tag)
		if open < 0 {
			continue
		}
		start := strings.IndexByte(lower[open:], '>')
		if start < 0 {
			continue
		}
		start += open + 1
		end := strings.Index(lower[start:], "</"+tag)
		if end < 0 {
			continue
		}
		if t := string(body[start : start+end]); cleanText(t) != "" {
			return t
		}
	}
	return ""
}

// cleanText makes server text safe to print on one line: valid UTF-8, no
// control characters, runs of space folded. It does not bound the length:
// callers truncate, after masking secrets.
func cleanText(s string) string {
	if s == "" || isCleanText(s) {
		return s
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

// isCleanText reports whether cleanText would return s as it is: valid
// UTF-8 with no control characters, no C1 controls and no white space
// other than single spaces between words. Most server text is, and is then
// returned without being rebuilt.
func isCleanText(s string) bool {
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	prevSpace := false
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= utf8.RuneSelf:
			return cleanNonASCII(s[i:], prevSpace)
		case b < 0x20 || b == 0x7f:
			return false
		case b == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		default:
			prevSpace = false
		}
	}
	return true
}

// cleanNonASCII is isCleanText from the first non-ASCII byte of s on.
func cleanNonASCII(s string, prevSpace bool) bool {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return false // invalid UTF-8 (or a U+FFFD, which is fine but rare: rebuild)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return false
		case r == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		default:
			prevSpace = false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
