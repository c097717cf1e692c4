package authclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// decodeTarget is a struct out value for FuzzDecodeJSON: fields of several
// kinds, so that type errors, nested values and RawMessage are compared.
type decodeTarget struct {
	Name  string          `json:"name"`
	Count int             `json:"count"`
	Tags  []string        `json:"tags"`
	Sub   *decodeTarget   `json:"sub"`
	Raw   json.RawMessage `json:"raw"`
	Any   any             `json:"any"`
}

// answerReader is how a transport may hand the answer to decodeJSON: the
// body cut at cut (what follows never comes), ended by io.EOF, an early
// EOF with the last data, or a read error, in pieces of any size.
func answerReader(body []byte, cut int, ending byte) io.Reader {
	var r io.Reader = bytes.NewReader(body[:cut])
	switch ending % 4 {
	case 1:
		r = iotest.OneByteReader(r)
	case 2:
		r = iotest.DataErrReader(r)
	case 3:
		r = io.MultiReader(r, errReader{io.ErrUnexpectedEOF})
	}
	return r
}

// FuzzDecodeJSON: decodeJSON gives the value and the error that
// json.NewDecoder(r).Decode gives, into a struct and into any, for any
// body, any announced length (right, unknown, too short, too long) and
// any way the reader ends.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","count":2,"tags":["x","y"],"sub":{"name":"b"},"raw":[1,2],"any":{"k":null}}`,
		`{"name":"a"} trailing`, `{"name":"a"}{"name":"b"}`, `123abc`, `123`, `"str"`, `null`, ` `, ``,
		`{"name":1}`, `{"count":"x","name":"kept"}`, `{"name":"a"`, `[1,2,3]`, `{"name":"\u00e9\ud83d"}`,
		"{\"name\":\"\xff\"}", `{"tags":[1,"x"]}`, `  {"any":1e400}  `, `{"sub":{"sub":{"sub":{}}}}`,
		`{"name":"}]\"{[\\","tags":["]"]} {`, `[{"name":"a"},{"name":"b"}]x`, `{]`, `[}`, `}{`, `{"name":"a"}}`,
		"\t\r\n {\"count\":1}\n", `{"raw":[[],{},[{}]]}]`, `{"name":"\\"}`, `{"name":"\\\""}`,
	} {
		for _, ending := range []byte{0, 1, 2, 3} {
			f.Add([]byte(s), int16(len(s)), uint16(len(s)), ending)
			f.Add([]byte(s), int16(-1), uint16(len(s)), ending)
			if len(s) > 2 {
				f.Add([]byte(s), int16(len(s)-2), uint16(len(s)), ending)
				f.Add([]byte(s), int16(len(s)), uint16(len(s)-2), ending)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, length int16, cut uint16, ending byte) {
		c := min(int(cut), len(body))
		for _, zero := range []func() any{
			func() any { return new(decodeTarget) },
			func() any { v := any(nil); return &v },
			func() any { return &decodeTarget{Name: "before", Tags: []string{"p", "q", "r"}} },
		} {
			want, got := zero(), zero()
			werr := json.NewDecoder(answerReader(body, c, ending)).Decode(want)
			gerr := decodeJSON(answerReader(body, c, ending), int64(length), got)
			if fmt.Sprint(werr) != fmt.Sprint(gerr) || !reflect.DeepEqual(want, got) {
				t.Fatalf("body %q, length %d, cut %d, ending %d:\nDecoder:    %v, %#v\ndecodeJSON: %v, %#v", body, length, c, ending, werr, want, gerr, got)
			}
			if werr != nil && reflect.TypeOf(werr) != reflect.TypeOf(gerr) {
				t.Fatalf("error types differ: %T and %T", werr, gerr)
			}
		}
	})
}

// TestDecodeJSONLongAnswers: answers over maxPooledJSON, of known and
// unknown length, are decoded as a stream with the same result.
func TestDecodeJSONLongAnswers(t *testing.T) {
	long := `{"name":"` + strings.Repeat("x", maxPooledJSON+100) + `","count":3}`
	for _, length := range []int64{int64(len(long)), -1} {
		var got decodeTarget
		if err := decodeJSON(strings.NewReader(long), length, &got); err != nil {
			t.Fatalf("length %d: %v", length, err)
		}
		if len(got.Name) != maxPooledJSON+100 || got.Count != 3 {
			t.Fatalf("length %d: got a name of %d bytes, count %d", length, len(got.Name), got.Count)
		}
	}
	// Exactly the buffer's size, unknown length: streamed, and whole.
	exact := `"` + strings.Repeat("y", maxPooledJSON-2) + `"`
	var s string
	if err := decodeJSON(strings.NewReader(exact), -1, &s); err != nil || len(s) != maxPooledJSON-2 {
		t.Fatalf("got %d bytes, %v", len(s), err)
	}
}

// TestDecodeJSONReadError: a body that breaks off mid-value fails with the
// read error, as the stream decoder does, and a read error after a
// complete value does not matter.
func TestDecodeJSONReadError(t *testing.T) {
	broken := errors.New("connection reset")
	var v decodeTarget
	err := decodeJSON(io.MultiReader(strings.NewReader(`{"name":"a`), errReader{broken}), 40, &v)
	if !errors.Is(err, broken) {
		t.Fatalf("got %v, want the read error", err)
	}
	err = decodeJSON(io.MultiReader(strings.NewReader(`{"name":"a"}`), errReader{broken}), 40, &v)
	if err != nil || v.Name != "a" {
		t.Fatalf("got %v, %q", err, v.Name)
	}
}

// TestDecodeJSONStopsAtTheValue: an answer of unknown length is read up to
// the end of the object or array it starts with, and no further, as the
// stream decoder reads it: brackets and escaped quotes inside strings do
// not end it, and whatever comes next is never asked for.
func TestDecodeJSONStopsAtTheValue(t *testing.T) {
	for _, value := range []string{
		`{"name":"}]\"{[\\","tags":["]","{"],"sub":{"name":"x"}}`,
		` [{"name":"a"},{"name":"b","tags":[]}]`,
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(value)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			past := readerFunc(func([]byte) (int, error) {
				t.Errorf("%q: read past the value", value)
				return 0, io.EOF
			})
			want, got := new(any), new(any)
			if err := json.Unmarshal([]byte(value), want); err != nil {
				t.Fatal(err)
			}
			if err := decodeJSON(io.MultiReader(r, past), -1, got); err != nil {
				t.Fatalf("%q: %v", value, err)
			}
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("%q: got %#v, want %#v", value, *got, *want)
			}
		}
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// decodedSignal is an out value that says when it was decoded.
type decodedSignal struct {
	decoded chan struct{}
	Name    string
}

func (d *decodedSignal) UnmarshalJSON(b []byte) error {
	var v struct{ Name string }
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d.Name = v.Name
	close(d.decoded)
	return nil
}

// TestChunkedAnswerDecodedBeforeItsEnd: a chunked JSON answer is decoded
// as soon as its value is whole, before the server ends the stream (here
// it ends it only once the value was decoded: a client that waited for
// the end first would never return), and the connection is then reused.
func TestChunkedAnswerDecodedBeforeItsEnd(t *testing.T) {
	decoded := make(chan struct{})
	var dials atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"name":"page",`)
		w.(http.Flusher).Flush() // chunked: no Content-Length
		io.WriteString(w, `"tags":["}"]}`+"\n")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/api/v1/held" {
			select {
			case <-decoded:
			case <-r.Context().Done():
			}
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := New(Komga, srv.URL, WithAPIKey("k-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	// A client that waits for the end of the stream before it decodes
	// fails here, after the deadline, instead of hanging the test.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out := &decodedSignal{decoded: decoded}
	if err := c.Do(ctx, "GET", "api/v1/held", nil, out); err != nil || out.Name != "page" {
		t.Fatalf("got %q, %v", out.Name, err)
	}
	out = &decodedSignal{decoded: make(chan struct{})}
	if err := c.Do(t.Context(), "GET", "api/v1/again", nil, out); err != nil || out.Name != "page" {
		t.Fatalf("got %q, %v", out.Name, err)
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d connections for two calls, want 1", n)
	}
}
