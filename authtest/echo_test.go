package authtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestEchoProxyForwardsAndEchoes(t *testing.T) {
	t.Parallel()
	k := NewKomga(WithPrefix("/komga"))
	defer k.Close()
	p := NewEchoProxy(k.Server)
	defer p.Close()
	if !strings.HasSuffix(p.URL, "/komga/") {
		t.Fatalf("proxy URL %q lacks the upstream prefix", p.URL)
	}

	get := func(path string, hdr string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, p.URL+path, nil)
		req.Header.Set("X-Api-Key", hdr)
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get("api/v2/users/me", "nope")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forwarded request: got %d, want Komga's 401", resp.StatusCode)
	}

	p.EchoOn("/api/v2/users/me", 0, EchoPlainText, EchoHTMLEscaped)
	resp = get("api/v2/users/me", `k<&>"`)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "X-Api-Key: k&lt;&amp;&gt;&#34;") {
		t.Fatalf("echo: %d %q", resp.StatusCode, body)
	}
	if got := p.Echoed(); len(got) != 1 || got[0].Header.Get("X-Api-Key") != `k<&>"` {
		t.Fatalf("Echoed() = %+v", got)
	}

	p.EchoOn("", 0, EchoLocationQuery, EchoRaw)
	noFollow := &http.Client{Transport: testTransport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(p.URL + "anything")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(resp.Header.Get("Location"), "elsewhere?q=GET+") {
		t.Fatalf("redirect echo: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	p.Forward()
	resp = get("api/v2/users/me", "nope")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after Forward: got %d", resp.StatusCode)
	}
}

// TestEchoProxyRulePathsAreUnderThePrefix: EchoOn paths are relative to the
// upstream prefix the way Server.Requests paths are (the shared
// stripPrefix): the bare prefix is "/", and a sibling path such as
// /komgax is not under /komga at all.
func TestEchoProxyRulePathsAreUnderThePrefix(t *testing.T) {
	t.Parallel()
	k := NewKomga(WithPrefix("/komga"))
	defer k.Close()
	p := NewEchoProxy(k.Server)
	defer p.Close()
	p.EchoOn("/", http.StatusTeapot, EchoPlainText, EchoRaw)
	p.EchoOn("x", http.StatusTeapot, EchoPlainText, EchoRaw)
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/komga", http.StatusTeapot},
		{"/komga/", http.StatusTeapot},
		{"/komgax", http.StatusInternalServerError}, // forwarded: Komga's fake rejects paths outside its prefix
	} {
		resp, err := testClient.Get(p.HTTP.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
}
