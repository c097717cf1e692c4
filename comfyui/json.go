package comfyui

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// number is a JSON number read tolerantly: an integer, a float (Python
// writes queue numbers as 3.0 when a client chose them; truncated) or a
// numeric string. Anything else (null, objects, out-of-range values) reads
// as 0 without an error.
type number int64

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (n *number) UnmarshalJSON(b []byte) error {
	v, _ := intOf(b)
	*n = number(v)
	return nil
}

// intOf reads a JSON number (or numeric string) as an integer, truncating
// fractions; ok is false for anything else.
func intOf(b []byte) (v int64, ok bool) {
	if len(b) > 0 && len(b) < 19 && (b[0] >= '0' && b[0] <= '9' || b[0] == '-') {
		if i, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return i, true
		}
	}
	var num json.Number
	if json.Unmarshal(b, &num) != nil || num == "" {
		return 0, false
	}
	if i, err := num.Int64(); err == nil {
		return i, true
	}
	if f, err := num.Float64(); err == nil && f > math.MinInt64 && f < math.MaxInt64 {
		return int64(math.Trunc(f)), true
	}
	return 0, false
}

// lenient decodes JSON into v, ignoring type mismatches in fields (a
// "device" number, a "queue" string): what decodes is kept. Syntax errors
// still fail.
type lenient struct{ v any }

// UnmarshalJSON implements json.Unmarshaler.
func (l *lenient) UnmarshalJSON(b []byte) error {
	err := json.Unmarshal(b, l.v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return nil
	}
	return err
}

// isObject reports whether raw is a JSON object.
func isObject(raw json.RawMessage) bool {
	return strings.HasPrefix(strings.TrimSpace(string(raw)), "{")
}
