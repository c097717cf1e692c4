package authclient

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
	"unicode/utf8"
)

// Form is a multipart/form-data request body, for uploads. Build it with
// [NewForm], add parts with [Form.Field] and [Form.File], and pass it as the
// in argument of [Client.Do] or [Client.Stream]:
//
//	f := authclient.NewForm().Field("library", id).File("file", "book.cbz", "application/zip", file)
//	err := c.Do(ctx, http.MethodPost, "api/v1/books/import", f, nil)
//
// The body is streamed: parts are written to the connection as the server
// reads them, so a file of any size takes constant memory and no temporary
// file. A Form is replayable (retried, replayed after a renewed sign-in)
// only if every file reader is an [io.Seeker]; each attempt then seeks
// every file back to where it was when the call started. A file reader's
// error fails the call with an error that unwraps to it. The client never
// closes the readers. A Form whose readers are not seekers can be sent
// once. To send a Form again, seek its files back first: a call starts
// each file where it is. A Form is not safe for concurrent use.
//
// Field names, file names and content types may not contain control
// characters (CR and LF would inject part headers); names are quoted and
// escaped in the part headers. An invalid part makes the call return a
// [*ConfigError] before anything is sent.
type Form struct {
	parts    []formPart
	err      error
	boundary string
}

type formPart struct {
	name, filename, contentType string
	value                       string
	r                           io.Reader // nil for a plain field
}

// NewForm returns an empty multipart form.
func NewForm() *Form { return &Form{} }

// Field adds a text field and returns f.
func (f *Form) Field(name, value string) *Form {
	if f.err == nil {
		if err := checkPartName("form field name", name); err != nil {
			f.err = err
		}
	}
	f.parts = append(f.parts, formPart{name: name, value: value})
	return f
}

// File adds a file part read from r, with the given field name, file name
// and content type ("" means application/octet-stream), and returns f.
func (f *Form) File(field, filename, contentType string, r io.Reader) *Form {
	if f.err == nil {
		f.err = checkPartName("form field name", field)
		if f.err == nil {
			f.err = checkPartName("form file name", filename)
		}
		if f.err == nil && isNil(r) {
			f.err = configErr("Form.File", "the reader of field %q is nil", cleanText(truncate(field, 40)))
		}
		if f.err == nil && contentType != "" {
			if err := checkHeaderValue(contentType); err != nil {
				f.err = configErr("Form.File", "content type of field %q %s", cleanText(truncate(field, 40)), err.Error())
			} else if _, _, err := mime.ParseMediaType(contentType); err != nil {
				f.err = configErr("Form.File", "content type of field %q is not a media type", cleanText(truncate(field, 40)))
			}
		}
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	f.parts = append(f.parts, formPart{name: field, filename: filename, contentType: contentType, r: r})
	return f
}

// checkPartName rejects a name that would break a part's headers.
func checkPartName(what, s string) error {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, isControl) {
		return configErr("Form", "%s %q has control characters (CR or LF would inject part headers) or is not valid UTF-8", what, cleanText(truncate(s, 40)))
	}
	return nil
}

// body makes the request body of the form: each attempt starts a writer
// that streams the parts through a pipe.
func (f *Form) body() (*reqBody, error) {
	if f == nil {
		return nil, configErr("request body", "the *Form is nil")
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.boundary == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		f.boundary = "authclient-" + hex.EncodeToString(b[:])
	}
	type file struct {
		s     io.Seeker
		start int64
	}
	starts := make([]file, len(f.parts))
	replayable := true
	for i, p := range f.parts {
		if p.r == nil {
			continue
		}
		s, ok := p.r.(io.Seeker)
		if !ok {
			replayable = false
			continue
		}
		pos, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			replayable = false // a pipe behind an *os.File
			continue
		}
		starts[i] = file{s: s, start: pos}
	}
	parts, boundary := f.parts, f.boundary
	rb := &reqBody{length: -1, replayable: replayable,
		contentType: "multipart/form-data; boundary=" + boundary}
	rb.open = func(n int) (io.ReadCloser, error) {
		if n > 0 {
			for _, st := range starts {
				if st.s != nil {
					if _, err := st.s.Seek(st.start, io.SeekStart); err != nil {
						return nil, err
					}
				}
			}
		}
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.CloseWithError(writeForm(pw, boundary, parts, rb))
		}()
		return &attemptBody{rb: rb, r: pr, c: pr, done: done}, nil
	}
	return rb, nil
}

// sourceError marks a file reader's own error, as opposed to the pipe
// closing because the attempt ended.
type sourceError struct{ err error }

func (e sourceError) Error() string { return e.err.Error() }
func (e sourceError) Unwrap() error { return e.err }

// writeForm writes the parts to w; a file reader's error is recorded in rb
// as the call's failure.
func writeForm(w io.Writer, boundary string, parts []formPart, rb *reqBody) error {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	for _, p := range parts {
		h := make(textproto.MIMEHeader, 2)
		if p.r == nil {
			h.Set("Content-Disposition", `form-data; name="`+escapeQuotes(p.name)+`"`)
		} else {
			h.Set("Content-Disposition", multipart.FileContentDisposition(p.name, p.filename))
			h.Set("Content-Type", p.contentType)
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if p.r == nil {
			if _, err := io.WriteString(pw, p.value); err != nil {
				return err
			}
			continue
		}
		if _, err := io.Copy(pw, sourceReader{p.r}); err != nil {
			var se sourceError
			if errors.As(err, &se) {
				err = fmt.Errorf("reading the file of form field %q: %w", cleanText(truncate(p.name, 40)), se.err)
				rb.fail(err)
			}
			return err
		}
	}
	return mw.Close()
}

// sourceReader marks its reader's errors (other than io.EOF) as
// sourceErrors. It hides any WriterTo, so that io.Copy reads through it.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = sourceError{err}
	}
	return n, err
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }
