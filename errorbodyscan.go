package authclient

import (
	"bytes"
	"encoding/json"
)

// decodeErrorBody decodes body, a JSON object, into eb as
// json.Unmarshal(body, eb) does, and reports whether Unmarshal would have
// succeeded. After json.Valid (no allocation), it walks the object's
// members itself, without reflection, and hands encoding/json only what
// it cannot do as cheaply: the value of "violations", an "error" object,
// and any object whose member names have escapes or bytes that are not
// ASCII (which json.Unmarshal matches by Unicode case folding). This
// spares most of an error answer's decoding: on Komga's 401 about 2 µs,
// where json.Unmarshal takes 3.
//
// encoding/json matches member names to fields case-insensitively and
// decodes them in order, a later duplicate overwriting an earlier one; a
// field's own decoder fails the whole decoding on a value of the wrong
// type. So does this walk.
func decodeErrorBody(body []byte, eb *errorBody) bool {
	if !json.Valid(body) {
		return false
	}
	s := objectScanner{b: body, i: 1}
	for {
		key, value, more := s.next()
		if !more {
			return true
		}
		if key == nil {
			break // a name it does not read itself
		}
		switch {
		case asciiFold(key, "status"):
			eb.Status = true
		case asciiFold(key, "message"):
			if eb.Message.UnmarshalJSON(value) != nil {
				return false
			}
		case asciiFold(key, "error"):
			_ = eb.Error.UnmarshalJSON(value) // never fails
		case asciiFold(key, "detail"):
			eb.Detail = value // read before body is released
		case asciiFold(key, "violations"):
			if json.Unmarshal(value, &eb.Violations) != nil {
				return false
			}
		}
	}
	*eb = errorBody{}
	return json.Unmarshal(body, eb) == nil
}

// asciiFold reports whether name, all ASCII, equals want (lower case) but
// for the case of its letters.
func asciiFold(name []byte, want string) bool {
	if len(name) != len(want) {
		return false
	}
	for i := range name {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// objectScanner walks the members of a JSON object known to be valid
// (json.Valid), from just after its "{".
type objectScanner struct {
	b []byte
	i int
}

// next returns the next member's name (unquoted) and raw value; more is
// false at the end of the object. A name with an escape or a byte that is
// not ASCII comes back nil, with more true: the caller decodes the object
// some other way.
func (s *objectScanner) next() (name, value []byte, more bool) {
	s.skipSpace()
	if s.b[s.i] == ',' {
		s.i++
		s.skipSpace()
	}
	if s.b[s.i] == '}' {
		return nil, nil, false
	}
	start := s.i + 1 // after the name's opening quote
	s.skipString()
	name = s.b[start : s.i-1]
	for _, c := range name {
		if c == '\\' || c >= 0x80 {
			return nil, nil, true
		}
	}
	s.skipSpace()
	s.i++ // ':'
	s.skipSpace()
	start = s.i
	s.skipValue()
	return name, s.b[start:s.i], true
}

func (s *objectScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// skipString moves past the string that starts at s.i.
func (s *objectScanner) skipString() {
	s.i++ // the opening quote
	for {
		j := bytes.IndexAny(s.b[s.i:], `"\`)
		s.i += j
		if s.b[s.i] == '"' {
			s.i++
			return
		}
		s.i += 2 // an escape: the backslash and the byte after it
	}
}

// skipValue moves past the value that starts at s.i.
func (s *objectScanner) skipValue() {
	switch s.b[s.i] {
	case '"':
		s.skipString()
	case '{', '[':
		depth := 0
		for {
			switch s.b[s.i] {
			case '"':
				s.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return
			}
		}
	default: // a number, true, false or null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			s.i++
		}
	}
}
