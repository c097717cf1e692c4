package authclient

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-retryablehttp"
)

// BodyFunc opens a request body. [Client.Do] and [Client.Stream] accept one
// as the in argument and call it once for each attempt (the first one, each
// retry, the replay after a renewed sign-in), like [http.Request.GetBody];
// the client closes every body it returns. A body sent this way is always
// replayable; its length is unknown, so it is sent chunked.
type BodyFunc func() (io.ReadCloser, error)

// ErrBodyNotReplayable is the cause of the error returned when a request
// body that cannot be sent twice (an [io.Reader] that is not an
// [io.Seeker], a [Form] with such a file) was asked for again, for example
// by a redirect that keeps the body.
var ErrBodyNotReplayable = errors.New("authclient: the request body was already sent and cannot be replayed (pass an io.Seeker or a BodyFunc)")

// errBodyClosed is what a body returns once the attempt that sent it is
// over: a late read from a transport's write loop must not race with the
// next attempt.
var errBodyClosed = errors.New("authclient: request body of a finished attempt")

// reqBody is a request body that is not a byte slice: it hands each attempt
// its own reader and knows whether it can be sent again. It never buffers:
// a reader is read only by the transport, straight from the source.
type reqBody struct {
	// open returns the body of attempt n (0 for the first); it runs with
	// mu held and after the previous attempt's body was closed.
	open        func(n int) (io.ReadCloser, error)
	replayable  bool
	length      int64 // -1 when unknown
	contentType string
	form        bool // a *Form: its content type is fixed
	building    bool // newRequest is building the request: the ReaderFunc hands out a stand-in

	mu       sync.Mutex
	attempts int
	cur      *attemptBody
	consumed atomic.Bool // some attempt read from the source

	errMu sync.Mutex
	err   error // the source's own read error, if any
}

// attemptBody is the body of one attempt. Once closed it refuses reads.
// For a seekable source shared between attempts (lock set) each read runs
// under mu, so that closing waits for a read in progress and the next
// attempt's seek never races with it. Any other source is read without a
// lock: a read costs two atomic loads, so that a body streamed in many
// small reads costs what the source costs.
type attemptBody struct {
	rb     *reqBody
	r      io.Reader
	c      io.Closer // closed with the attempt; nil for the caller's own reader
	lock   bool      // hold mu for the whole read (seekable shared source)
	record bool      // a read error is the source's failure
	mu     sync.Mutex
	closed atomic.Bool   // set under mu
	done   chan struct{} // closed when a Form's writer has stopped; may be nil
}

func (a *attemptBody) Read(p []byte) (int, error) {
	if a.lock {
		return a.lockedRead(p)
	}
	return a.read(p)
}

// lockedRead reads under mu (a seekable source shared between attempts).
func (a *attemptBody) lockedRead(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.read(p)
}

func (a *attemptBody) read(p []byte) (int, error) {
	if a.closed.Load() {
		return 0, errBodyClosed
	}
	if !a.rb.consumed.Load() {
		a.rb.consumed.Store(true)
	}
	n, err := a.r.Read(p)
	if err != nil && err != io.EOF && a.record {
		a.rb.fail(err)
	}
	return n, err
}

func (a *attemptBody) Close() error {
	a.mu.Lock()
	if a.closed.Load() {
		a.mu.Unlock()
		return nil
	}
	a.closed.Store(true)
	a.mu.Unlock()
	if a.c != nil {
		return a.c.Close()
	}
	return nil
}

// fail records the source's first read error.
func (rb *reqBody) fail(err error) {
	rb.errMu.Lock()
	if rb.err == nil {
		rb.err = err
	}
	rb.errMu.Unlock()
}

// failure returns the source's read error, if any.
func (rb *reqBody) failure() error {
	if rb == nil {
		return nil
	}
	rb.errMu.Lock()
	defer rb.errMu.Unlock()
	return rb.err
}

// canReplay reports whether the body can be sent again: its source did not
// fail, and it is replayable or nothing of it was read yet.
func (rb *reqBody) canReplay() bool {
	return rb == nil || rb.failure() == nil && (rb.replayable || !rb.consumed.Load())
}

// next returns the body for the next attempt, closing the previous one
// first (and, for a Form, waiting for its writer to stop).
func (rb *reqBody) next() (io.ReadCloser, error) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if prev := rb.cur; prev != nil {
		_ = prev.Close()
		if prev.done != nil {
			<-prev.done
		}
		rb.cur = nil
	}
	if err := rb.failure(); err != nil {
		return nil, err
	}
	if !rb.replayable && rb.consumed.Load() {
		return nil, ErrBodyNotReplayable
	}
	rc, err := rb.open(rb.attempts)
	if err != nil {
		rb.fail(err)
		return nil, err
	}
	rb.attempts++
	a, ok := rc.(*attemptBody)
	if !ok {
		a = &attemptBody{rb: rb, r: rc, c: rc, record: true}
	}
	rb.cur = a
	return a, nil
}

// readerFunc is the body as go-retryablehttp takes it without buffering: a
// ReaderFunc. retryablehttp calls it once while building the request, to
// learn the length; that call gets a stand-in that is never read, so that
// a one-shot reader is not spent and a BodyFunc not opened for nothing
// (newRequest sets the length itself).
func (rb *reqBody) readerFunc() retryablehttp.ReaderFunc {
	return func() (io.Reader, error) {
		if rb.building {
			return http.NoBody, nil
		}
		return rb.next()
	}
}

// readerBody makes a body of the caller's io.Reader. A reader that is an
// io.Seeker whose position can be read is replayable: each attempt seeks
// back to where it was when the call started, and its length is known. Any
// other reader is sent once, as it is, never copied. The client never
// closes the caller's reader.
func readerBody(r io.Reader) (*reqBody, error) {
	rb := &reqBody{length: -1, contentType: "application/octet-stream"}
	if l, ok := r.(interface{ Len() int }); ok {
		rb.length = int64(l.Len())
	}
	if s, ok := r.(io.Seeker); ok {
		if start, err := s.Seek(0, io.SeekCurrent); err == nil {
			if end, err := s.Seek(0, io.SeekEnd); err == nil {
				if _, err := s.Seek(start, io.SeekStart); err != nil {
					return nil, &ConfigError{Setting: "request body", Problem: "cannot seek the io.Reader back to its position: " + err.Error(), Err: err}
				}
				if end >= start {
					rb.length = end - start
				}
			}
			rb.replayable = true
			rb.open = func(n int) (io.ReadCloser, error) {
				if n > 0 {
					if _, err := s.Seek(start, io.SeekStart); err != nil {
						return nil, err
					}
				}
				return &attemptBody{rb: rb, r: r, lock: true, record: true}, nil
			}
			return rb, nil
		}
	}
	rb.open = func(int) (io.ReadCloser, error) {
		return &attemptBody{rb: rb, r: r, record: true}, nil
	}
	return rb, nil
}

// funcBody makes a body of a BodyFunc.
func funcBody(f func() (io.ReadCloser, error)) *reqBody {
	rb := &reqBody{length: -1, contentType: "application/octet-stream", replayable: true}
	rb.open = func(int) (io.ReadCloser, error) {
		body, err := f()
		if err != nil {
			return nil, err
		}
		if body == nil {
			return http.NoBody, nil
		}
		return body, nil
	}
	return rb
}

// streamBody sets v, an io.Reader, BodyFunc or *Form, as the call's body.
func (cl *call) streamBody(v any) error {
	var rb *reqBody
	var err error
	switch b := v.(type) {
	case BodyFunc:
		if b == nil {
			return configErr("request body", "the BodyFunc is nil")
		}
		rb = funcBody(b)
	case func() (io.ReadCloser, error):
		if b == nil {
			return configErr("request body", "the body function is nil")
		}
		rb = funcBody(b)
	case *Form:
		rb, err = b.body()
		if rb != nil {
			rb.form = true
		}
	case io.Reader:
		if isNil(b) {
			return configErr("request body", "the io.Reader (%T) is nil", b)
		}
		rb, err = readerBody(b)
	}
	if err != nil {
		return err
	}
	cl.rbody = rb
	cl.ctype = rb.contentType
	return nil
}
