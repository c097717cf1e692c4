package authclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func noRetries(ctx context.Context) bool { return ctx.Value(keyNoRetry) != nil }

// checkRetry decides whether an attempt is retried: never once the context
// is done or for calls that are not safe to repeat; for safe calls on
// connection errors (but not TLS trust, origin or redirect failures), 429,
// 502, 503 and 504 — unless the server asks for a longer wait than the cap
// allows or than the context deadline leaves.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if noRetries(ctx) {
		return false, nil
	}
	if err != nil {
		return retryableTransportError(err) && bodyReplayable(ctx), nil
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
			if wait > c.retryAfterCap {
				return false, nil
			}
			if dl, ok := ctx.Deadline(); ok && c.now().Add(wait).After(dl) {
				return false, nil
			}
		}
		return bodyReplayable(ctx), nil
	}
	return false, nil
}

// bodyReplayable reports whether the call's body, if streamed, can be sent
// again: a retry of a spent one-shot reader would send an empty or partial
// body.
func bodyReplayable(ctx context.Context) bool {
	rb, _ := ctx.Value(keyBody).(*reqBody)
	return rb.canReplay()
}

func retryableTransportError(err error) bool {
	if errors.Is(err, errOtherOrigin) || errors.Is(err, context.Canceled) {
		return false
	}
	var (
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		verifyErr  *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalidErr) ||
		errors.As(err, &verifyErr) || errors.As(err, &recordErr) {
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		msg := ue.Err.Error()
		// net/http's own non-retryable failures have no exported type.
		if strings.Contains(msg, "unsupported protocol scheme") || strings.Contains(msg, "invalid header") ||
			strings.Contains(msg, "stopped after") || strings.HasPrefix(msg, badLocationPrefix) {
			return false
		}
	}
	return true
}

// backoff waits as the server asked (Retry-After, already checked against
// the cap by checkRetry), or exponentially from min to max with equal
// jitter.
func (c *Client) backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if wait, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
			return wait
		}
	}
	d := max
	if attempt < 62 && min > 0 {
		if m := min << uint(attempt); m > 0 && m < max {
			d = m
		}
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half)
}

// parseRetryAfter parses a Retry-After value, either delay-seconds or an
// HTTP date (relative to now). It reports false for a missing or malformed
// value; a date in the past gives 0, true.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			// Too large to represent: treat as "a very long time".
			if errors.Is(err, strconv.ErrRange) {
				return maxDuration, true
			}
			return 0, false
		}
		if n > uint64(maxDuration/time.Second) {
			return maxDuration, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

const maxDuration = time.Duration(1<<63 - 1)
