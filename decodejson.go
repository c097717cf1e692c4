package authclient

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
)

// maxPooledJSON is the largest answer decodeJSON reads into a pooled
// buffer; a longer one is decoded as a stream.
const maxPooledJSON = 64 << 10

// decodeJSON decodes the JSON answer read from r, whose Content-Length is
// length (-1 if unknown), into out, with the results of
// json.NewDecoder(r).Decode(out), the same value and the same error, at a
// lower price: an answer of up to maxPooledJSON bytes is read into a pooled
// buffer and decoded with json.Unmarshal, which spares the Decoder, its
// growing buffer and its refills (on a 600-byte page, 5 allocations and
// about 2.3 KB). Where Unmarshal would answer differently, the stream
// decoder answers, over the bytes already read and then what r has left:
//   - a syntax error (data after the value, which a stream decoder leaves
//     unread, or no value); Unmarshal checks the whole input before it
//     decodes anything, so out is untouched then;
//   - a read error, or an answer longer than the buffer.
//
// The buffer is read until r ends or, for an answer of unknown length
// (chunked), until the object or array it starts with is complete, as the
// stream decoder stops: the end of a chunked answer may come well after
// its last byte of JSON (a server's last, empty chunk in a later segment),
// and the value is decoded while it comes. The length is only a hint
// otherwise: an answer is read as the stream decoder would read it, so a
// transport that sends more or less than it announced is decoded alike.
func decodeJSON(r io.Reader, length int64, out any) error {
	if length == 0 || length > maxPooledJSON {
		return json.NewDecoder(r).Decode(out)
	}
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	buf := (*bp)[:0]
	var end *valueEnd // finds where the value ends, for an unknown length
	if length > 0 {
		buf = slices.Grow(buf, int(length)+1) // +1: room for the read that sees the end
	} else {
		end = new(valueEnd) // does not escape: no allocation
	}
	buf, err := readUpTo(r, buf, maxPooledJSON, end)
	*bp = buf[:cap(buf)]
	// What Unmarshal can decode as the stream decoder would: the whole
	// answer once r ended, or the value an answer of unknown length
	// starts with, once whole (what follows it is left unread, as the
	// stream decoder leaves it).
	value, whole := buf, err == io.EOF
	if end != nil && end.n > 0 {
		value, whole = buf[:end.n], true
	}
	if whole {
		uerr := json.Unmarshal(value, out)
		if _, ok := uerr.(*json.SyntaxError); !ok {
			return uerr
		}
	}
	var rest io.Reader // what follows buf
	switch err {
	case io.EOF:
		rest = eofReader{}
	case nil:
		rest = r // the buffer is full, or the value ended: r goes on
	default:
		rest = errReader{err}
	}
	return json.NewDecoder(io.MultiReader(bytes.NewReader(buf), rest)).Decode(out)
}

// readUpTo appends to buf what r gives until it holds limit bytes, a read
// fails or, with end, the value it starts with is whole, and returns it
// with the read error (io.EOF at the end of r; nil when it stopped at
// limit, or at the end of the value in a read that did not fail).
func readUpTo(r io.Reader, buf []byte, limit int, end *valueEnd) ([]byte, error) {
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if end != nil && end.scan(buf) || err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// valueEnd finds, in an answer as it is read, where the JSON object or
// array it starts with ends, where a stream decoder stops reading. It
// follows strings and nesting only, and gives up (n stays 0) on anything
// else at the top level. It need not validate: json.Unmarshal checks what
// it finds, and a wrong end, which only invalid JSON can give, costs no
// more than the fallback to the stream decoder.
type valueEnd struct {
	off        int // bytes of the answer scanned so far
	depth      int // objects and arrays open
	inStr, esc bool
	stop       bool // not an object or an array: read to the end
	n          int  // > 0: the value is the answer's first n bytes
}

// scan goes on over what buf holds beyond what it saw before, and reports
// whether the value is whole.
func (v *valueEnd) scan(buf []byte) bool {
	if v.stop || v.n > 0 {
		return v.n > 0
	}
	for i := v.off; i < len(buf); i++ {
		c := buf[i]
		if v.inStr {
			switch {
			case v.esc:
				v.esc = false
			case c == '\\':
				v.esc = true
			case c == '"':
				v.inStr = false
			}
			continue
		}
		switch c {
		case '{', '[':
			v.depth++
		case '}', ']':
			v.depth--
			if v.depth == 0 {
				v.n = i + 1
				return true
			}
		case ' ', '\t', '\n', '\r':
		case '"':
			v.inStr = true
		}
		if v.depth <= 0 && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			v.stop = true // a scalar, or a stray bracket, at the top
			return false
		}
	}
	v.off = len(buf)
	return false
}

// eofReader is an io.Reader at its end.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// errReader is an io.Reader that fails with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
