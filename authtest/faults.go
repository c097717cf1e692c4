package authtest

import (
	"net"
	"net/http"
	"strconv"
	"strings"
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
	rules      []*faultRule
}

// faultRule is one [Faults.FailNextMatching] rule.
type faultRule struct {
	method, prefix string
	n, status      int
	retryAfter     string
}

// FailNextMatching makes the next n requests whose method is method (""
// matches every method; "GET" also matches HEAD) and whose path, relative to
// the prefix, lies under pathPrefix fail like [Faults.FailNext]. pathPrefix
// matches whole segments: "/api/v1" matches "/api/v1" and "/api/v1/user",
// not "/api/v10"; "" or "/" matches every path. Requests that do not match
// are not counted. Rules add up: each keeps its own count, and the first
// added that matches a request fails it (after [Faults.FailNext] and
// [Faults.FailNextOn], which are independent of the rules). n <= 0 adds
// nothing.
func (f *Faults) FailNextMatching(method, pathPrefix string, n, status int, retryAfter time.Duration) {
	if n <= 0 {
		return
	}
	rule := &faultRule{method: method, prefix: strings.TrimSuffix(pathPrefix, "/"), n: n, status: status}
	if retryAfter >= 0 {
		rule.retryAfter = strconv.FormatInt(int64(retryAfter/time.Second), 10)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, rule)
}

func (rule *faultRule) matches(r *http.Request) bool {
	if rule.method != "" && rule.method != r.Method && !(rule.method == http.MethodGet && r.Method == http.MethodHead) {
		return false
	}
	_, under := stripPrefix(r.URL.Path, rule.prefix)
	return under
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
	if !reset && status == 0 {
		for i, rule := range f.rules {
			if rule.matches(r) {
				status, retryAfter = rule.status, rule.retryAfter
				if rule.n--; rule.n == 0 {
					f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
				}
				break
			}
		}
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
