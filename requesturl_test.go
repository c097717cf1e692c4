package authclient

import (
	"net/url"
	"testing"
)

// FuzzRequestURL holds requestURL equal to what it replaced, base + path +
// "?" + url.Values.Encode(), for every query: the seeds cover the class of
// what Encode does (sorted keys, repeated keys, keys without values, empty
// values, spaces, reserved and non-ASCII bytes, more keys than the stack
// array holds).
func FuzzRequestURL(f *testing.F) {
	f.Add("page", "2", "search", "one piece", "a&b=c", "é/?#%+", uint8(3))
	f.Add("", "", "k", "", "~-_.", "\x00\xff", uint8(20))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string, extra uint8) {
		q := url.Values{}
		q.Add(k1, v1)
		q.Add(k2, v2)
		q.Add(k1, v3)
		q[k3] = nil
		for i := range int(extra % 24) {
			q.Add(string(rune('a'+i%26))+k2, v1)
		}
		const base, path = "http://h/x/", "api/v1/series"
		want := base + path + "?" + q.Encode()
		if got := requestURL(base, path, q); got != want {
			t.Fatalf("requestURL = %q, want %q", got, want)
		}
		if got := requestURL(base, path, nil); got != base+path {
			t.Fatalf("requestURL without a query = %q", got)
		}
	})
}
