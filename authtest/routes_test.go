package authtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// routeCase is one request to a fake and the routing answer it must get.
type routeCase struct {
	method, path string
	auth         [2]string // header name and value, or empty
	status       int
	allow        string // expected Allow header ("" for none)
	body         string // a substring of the body ("" for any)
}

func runRouteCases(t *testing.T, name, base string, cases []routeCase) {
	t.Helper()
	c := &http.Client{Transport: testTransport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, base+strings.TrimPrefix(tc.path, "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.auth[0] != "" {
			req.Header.Set(tc.auth[0], tc.auth[1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s %s: %v", name, tc.method, tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Allow") != tc.allow || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s %s %s = %d Allow %q body %q; want %d Allow %q body containing %q",
				name, tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), b, tc.status, tc.allow, tc.body)
		}
	}
}

// TestFakeRouting pins the routing answers of every fake, the class the
// shared router serves: the methods a path allows (405 and OPTIONS, with
// HEAD served by GET), path parameters and what they may hold, case
// sensitivity and trailing slashes, and paths no route has. Each server
// answers these its own way (Spring, Express, Starlette, aiohttp).
func TestFakeRouting(t *testing.T) {
	t.Run("Komga", func(t *testing.T) {
		k := NewKomga(WithPrefix("/komga"))
		defer k.Close()
		k.AddUser("admin@example.org", "secret", "ADMIN")
		basic := [2]string{"Authorization", "Basic YWRtaW5AZXhhbXBsZS5vcmc6c2VjcmV0"}
		runRouteCases(t, "Komga", k.URL, []routeCase{
			{"OPTIONS", "/api/v2/users/me/api-keys", basic, 200, "GET,HEAD,POST,OPTIONS", ""},
			{"PUT", "/api/v2/users/me", basic, 405, "GET", "is not supported"},
			{"PATCH", "/api/v1/claim", [2]string{}, 405, "GET,POST", "is not supported"},
			{"HEAD", "/actuator/health", [2]string{}, 200, "", ""},
			{"GET", "/api/v2/users/me/api-keys/k1", basic, 405, "DELETE", ""},
			{"DELETE", "/api/v2/users/me/api-keys/k1", basic, 404, "", "404 NOT_FOUND"},
			{"DELETE", "/api/v2/users/me/api-keys/", basic, 404, "", "No endpoint DELETE"},
			{"DELETE", "/api/v2/users/me/api-keys/a/b", basic, 404, "", "No endpoint DELETE"},
			{"GET", "/API/v2/users/me", basic, 404, "", "No endpoint GET"},
			{"GET", "/api/v2/users/me/", basic, 404, "", "No endpoint GET"},
			{"GET", "/nope", [2]string{}, 404, "", "No endpoint GET /komga/nope."},
		})
	})
	t.Run("Audiobookshelf", func(t *testing.T) {
		a := NewAudiobookshelf(WithPrefix("/abs"))
		defer a.Close()
		key := [2]string{"Authorization", "Bearer " + a.LegacyToken("root")}
		runRouteCases(t, "Audiobookshelf", a.URL, []routeCase{
			{"GET", "/PING", [2]string{}, 200, "", ""},
			{"OPTIONS", "/login", [2]string{}, 200, "GET,HEAD,POST", ""},
			{"OPTIONS", "/api/api-keys/abc", key, 200, "PATCH,DELETE", ""},
			{"GET", "/API/Libraries", key, 200, "", ""},
			{"GET", "/api/libraries/", key, 200, "", ""},
			{"PUT", "/ping", [2]string{}, 404, "", "Cannot PUT"},
			{"GET", "/api/libraries//items", key, 404, "", "Cannot GET"},
		})
	})
	t.Run("Khoj", func(t *testing.T) {
		k := NewKhoj(WithPrefix("/khoj"))
		defer k.Close()
		runRouteCases(t, "Khoj", k.URL, []routeCase{
			{"PUT", "/api/health", [2]string{}, 405, "GET, HEAD", "Method Not Allowed"},
			{"DELETE", "/auth/magic", [2]string{}, 405, "POST", "Method Not Allowed"},
			{"HEAD", "/api/health", [2]string{}, 200, "", ""},
			{"GET", "/api/health/", [2]string{}, 307, "", ""},
			{"GET", "/API/health", [2]string{}, 404, "", "Not Found"},
			{"GET", "/nope", [2]string{}, 404, "", "Not Found"},
		})
	})
	t.Run("ComfyUI", func(t *testing.T) {
		c := NewComfyUI("", WithPrefix("/comfy"))
		defer c.Close()
		runRouteCases(t, "ComfyUI", c.URL, []routeCase{
			{"GET", "/api/history/{x}", [2]string{}, 404, "", "404: Not Found"},
			{"GET", "/history/abc", [2]string{}, 200, "", "{}"},
			{"GET", "/history/", [2]string{}, 404, "", "404: Not Found"},
			{"POST", "/history/abc", [2]string{}, 405, "GET,HEAD", "405"},
			{"DELETE", "/prompt", [2]string{}, 405, "GET,HEAD,POST", "405"},
			{"PUT", "/nope", [2]string{}, 405, "GET,HEAD", "405"},
			{"HEAD", "/api/health", [2]string{}, 200, "", ""},
		})
	})
}
