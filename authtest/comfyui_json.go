package authtest

// JSON as the ComfyUI fake's Python server reads and writes it: ordered
// objects, Python's number and string forms, and truthiness: Python
// semantics on raw JSON values, and output as Python's json.dumps writes it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// comfyKV is one member of a comfyObject.
type comfyKV struct {
	K string
	V any
}

// comfyObject is a JSON object that keeps its key order, like a Python dict.
type comfyObject []comfyKV

func (o comfyObject) get(k string) (json.RawMessage, bool) {
	for _, kv := range o {
		if kv.K == k {
			raw, ok := kv.V.(json.RawMessage)
			if !ok {
				raw, _ = comfyMarshal(kv.V)
			}
			return raw, true
		}
	}
	return nil, false
}

func (o comfyObject) set(k string, v any) comfyObject {
	for i := range o {
		if o[i].K == k {
			o[i].V = v
			return o
		}
	}
	return append(o, comfyKV{k, v})
}

func (o comfyObject) del(k string) comfyObject {
	for i := range o {
		if o[i].K == k {
			return append(o[:i:i], o[i+1:]...)
		}
	}
	return o
}

// MarshalJSON writes the members in order.
func (o comfyObject) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, kv := range o {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, err := comfyMarshal(kv.K)
		if err != nil {
			return nil, err
		}
		v, err := comfyMarshal(kv.V)
		if err != nil {
			return nil, err
		}
		buf = append(append(append(buf, k...), ':'), v...)
	}
	return append(buf, '}'), nil
}

// comfyNumber is a queue number: a Python int, or a float when the client
// set "number".
type comfyNumber struct {
	f       float64
	isFloat bool
}

// MarshalJSON writes the number as Python would.
func (n comfyNumber) MarshalJSON() ([]byte, error) {
	if n.isFloat {
		return comfyFloat(n.f).MarshalJSON()
	}
	return strconv.AppendInt(nil, int64(n.f), 10), nil
}

// comfyFloat is a Python float: 3.0, not 3.
type comfyFloat float64

// MarshalJSON writes the float as Python's repr does.
func (f comfyFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil, fmt.Errorf("authtest: comfyui: non-finite float")
	}
	if a := math.Abs(v); a != 0 && (a >= 1e16 || a < 1e-4) {
		return []byte(strconv.FormatFloat(v, 'e', -1, 64)), nil
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return []byte(s), nil
}

func comfyMarshal(v any) ([]byte, error) { return marshalCompact(v) }

// comfyMarshalPython encodes v as Python's json.dumps does: ", " and ": "
// separators, non-ASCII and DEL as \uXXXX, \b and \f short escapes.
func comfyMarshalPython(v any) ([]byte, error) {
	b, err := comfyMarshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+len(b)/8)
	inStr := false
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if !inStr {
			out = append(out, ch)
			switch ch {
			case '"':
				inStr = true
			case ',', ':':
				out = append(out, ' ')
			}
			continue
		}
		switch {
		case ch == '"':
			inStr = false
			out = append(out, ch)
		case ch == '\\':
			if i+5 < len(b) && b[i+1] == 'u' && string(b[i+2:i+6]) == "0008" {
				out, i = append(out, `\b`...), i+5
			} else if i+5 < len(b) && b[i+1] == 'u' && string(b[i+2:i+6]) == "000c" {
				out, i = append(out, `\f`...), i+5
			} else {
				out, i = append(out, ch, b[i+1]), i+1
			}
		case ch == 0x7f:
			out = append(out, `\u007f`...)
		case ch >= 0x80:
			r, size := utf8.DecodeRune(b[i:])
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
			i += size - 1
		default:
			out = append(out, ch)
		}
	}
	return out, nil
}

// comfyWriteJSON answers like aiohttp's web.json_response.
func comfyWriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := comfyMarshalPython(v)
	if err != nil {
		comfyWrite500(w)
		return
	}
	writeText(w, status, "application/json; charset=utf-8", string(b))
}

// comfyWrite500 is aiohttp's answer to an unhandled exception.
func comfyWrite500(w http.ResponseWriter) {
	writeText(w, http.StatusInternalServerError, "text/plain; charset=utf-8", comfyInternalError)
}

// comfyReadJSON reads a request body that must be valid JSON.
func comfyReadJSON(r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, comfyMaxBody))
	if err != nil {
		return nil, false
	}
	body = bytes.TrimSpace(body)
	return body, len(body) > 0 && json.Valid(body)
}

// comfyKind is the first byte of a JSON value: '{', '[', '"', 't', 'f',
// 'n', a digit or '-'; 0 if empty.
func comfyKind(raw []byte) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// comfyDecodeObject decodes a JSON object, keeping key order and the raw
// values (a repeated key keeps its first place and its last value, as in
// Python). ok is false if raw is not an object.
func comfyDecodeObject(raw []byte) (comfyObject, bool) {
	if comfyKind(raw) != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	obj := comfyObject{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, ok := t.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		obj = obj.set(k, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	return obj, true
}

// comfyIterate lists what Python's `for x in v` yields: list elements,
// string characters, object keys. ok is false for scalars.
func comfyIterate(v json.RawMessage) ([]json.RawMessage, bool) {
	switch comfyKind(v) {
	case '[':
		var elems []json.RawMessage
		err := json.Unmarshal(v, &elems)
		return elems, err == nil
	case '"':
		var s string
		_ = json.Unmarshal(v, &s)
		var out []json.RawMessage
		for _, r := range s {
			b, _ := json.Marshal(string(r))
			out = append(out, b)
		}
		return out, true
	case '{':
		obj, _ := comfyDecodeObject(v)
		var out []json.RawMessage
		for _, kv := range obj {
			b, _ := json.Marshal(kv.K)
			out = append(out, b)
		}
		return out, true
	}
	return nil, false
}

// comfyContains is Python's `s in v` for a list (element equality), a string
// (substring) or a dict (key).
func comfyContains(v json.RawMessage, s string) bool {
	switch comfyKind(v) {
	case '"':
		var str string
		return json.Unmarshal(v, &str) == nil && strings.Contains(str, s)
	case '[', '{':
		elems, _ := comfyIterate(v)
		for _, e := range elems {
			var str string
			if comfyKind(e) == '"' && json.Unmarshal(e, &str) == nil && str == s {
				return true
			}
		}
	}
	return false
}

// comfyTruthy is Python's truth value of a JSON value.
func comfyTruthy(v json.RawMessage) bool {
	switch comfyKind(v) {
	case 0, 'n', 'f':
		return false
	case 't':
		return true
	case '"':
		return string(bytes.TrimSpace(v)) != `""`
	case '[':
		var elems []json.RawMessage
		return json.Unmarshal(v, &elems) == nil && len(elems) > 0
	case '{':
		obj, _ := comfyDecodeObject(v)
		return len(obj) > 0
	}
	var f float64
	return json.Unmarshal(v, &f) == nil && f != 0
}

// comfyPyFloat is Python's float() of a JSON value; ok is false where Python
// raises (or the result is not finite).
func comfyPyFloat(v json.RawMessage) (float64, bool) {
	var f float64
	switch comfyKind(v) {
	case 't':
		return 1, true
	case 'f':
		return 0, true
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0, false
		}
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			return 0, false
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if json.Unmarshal(v, &f) != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsInf(f, 0) && !math.IsNaN(f)
}

// comfyPyStr is Python's str() of a JSON value, as an f-string shows it.
func comfyPyStr(v json.RawMessage) string {
	switch comfyKind(v) {
	case '"':
		var s string
		_ = json.Unmarshal(v, &s)
		return s
	case 'n':
		return "None"
	case 't':
		return "True"
	case 'f':
		return "False"
	}
	b, _ := comfyMarshalPython(v)
	return string(b)
}

// comfyPyHeader formats a header value as aiohttp's messages do: None when
// absent, and with repr quotes when quoted is set.
func comfyPyHeader(h http.Header, name string, quoted bool) string {
	vs := h.Values(name)
	if len(vs) == 0 {
		return "None"
	}
	s := vs[0]
	if !quoted {
		return s
	}
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
