package authtest

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Faults injects failures into the requests a fake receives. The zero value
// injects nothing. Its methods are safe for concurrent use.
type Faults struct {
	mu         sync.Mutex
	failN      int
	failStatus int
	retryAfter string
	failPath   string
	resetN     int
	latency    time.Duration
}

// FailNext makes the next n requests fail with status and a short plain-text
// body, without reaching the fake's handlers. A non-negative retryAfter
// adds a Retry-After header with that many whole seconds; pass -1 to send none.
func (f *Faults) FailNext(n, status int, retryAfter time.Duration) {
	f.FailNextOn("", n, status, retryAfter)
}

// FailNextOn is like [Faults.FailNext] but only counts and fails requests
// whose path (relative to the prefix) equals path. An empty path matches all.
func (f *Faults) FailNextOn(path string, n, status int, retryAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failN, f.failStatus, f.failPath = n, status, path
	f.retryAfter = ""
	if retryAfter >= 0 {
		f.retryAfter = strconv.FormatInt(int64(retryAfter/time.Second), 10)
	}
}

// ResetNext makes the next n requests fail by closing the connection without
// an answer, as a crashed server or a flaky proxy would.
func (f *Faults) ResetNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetN = n
}

// SetLatency delays every request by d before it is handled (0 turns it off).
func (f *Faults) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// apply injects the configured fault, if any, and reports whether the request
// was answered (or dropped) by it.
func (f *Faults) apply(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	latency := f.latency
	reset := false
	if f.resetN > 0 {
		f.resetN--
		reset = true
	}
	status, retryAfter := 0, ""
	if !reset && f.failN > 0 && (f.failPath == "" || f.failPath == r.URL.Path) {
		f.failN--
		status, retryAfter = f.failStatus, f.retryAfter
	}
	f.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	if reset {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // send RST, not FIN
				}
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	}
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(http.StatusText(status)))
		return true
	}
	return false
}
