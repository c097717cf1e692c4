package authtest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/selfhost-sdk/authclient/authtest"
)

func TestFaultsFailNextMatching(t *testing.T) {
	t.Parallel()
	k := authtest.NewKomga(authtest.WithPrefix("/komga"))
	defer k.Close()
	k.Faults.FailNextMatching(http.MethodGet, "/api/v1", 2, http.StatusServiceUnavailable, 7e9)
	k.Faults.FailNextMatching(http.MethodPost, "/api/v1/claim", 1, http.StatusBadGateway, -1)
	k.Faults.FailNextMatching("", "/actuator/", 1, http.StatusTeapot, -1)
	k.Faults.FailNextMatching("", "/anything", 0, http.StatusTeapot, -1) // adds nothing

	status := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, k.URL+path, nil)
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	// Outside the prefix, another method, a segment that only starts the
	// same: not counted.
	for _, p := range [][2]string{{"POST", "api/v1/series"}, {"GET", "api/v10"}, {"GET", "api/v2/users/me"}, {"GET", "anything"}} {
		s, _ := status(p[0], p[1])
		assert.NotEqual(t, http.StatusServiceUnavailable, s, p)
		assert.NotEqual(t, http.StatusTeapot, s, p)
	}
	s, ra := status("GET", "api/v1/claim")
	assert.Equal(t, http.StatusServiceUnavailable, s)
	assert.Equal(t, "7", ra)
	s, _ = status("HEAD", "api/v1") // GET matches HEAD; the prefix itself matches
	assert.Equal(t, http.StatusServiceUnavailable, s)
	s, _ = status("GET", "api/v1/claim") // used up
	assert.Equal(t, http.StatusOK, s)
	s, ra = status("POST", "api/v1/claim")
	assert.Equal(t, http.StatusBadGateway, s)
	assert.Empty(t, ra)
	s, _ = status("GET", "actuator/health")
	assert.Equal(t, http.StatusTeapot, s)
	s, _ = status("GET", "actuator/health")
	assert.Equal(t, http.StatusOK, s)

	// FailNext keeps working next to the rules, and goes first.
	k.Faults.FailNextMatching("", "", 1, http.StatusTeapot, -1)
	k.Faults.FailNext(1, http.StatusInternalServerError, -1)
	s, _ = status("GET", "actuator/health")
	assert.Equal(t, http.StatusInternalServerError, s)
	s, _ = status("GET", "actuator/health")
	assert.Equal(t, http.StatusTeapot, s)
	s, _ = status("GET", "actuator/health")
	assert.Equal(t, http.StatusOK, s)
}

// A fault scoped to a user route fails it before the fake authenticates.
func TestFaultsFailNextMatchingUserRoute(t *testing.T) {
	t.Parallel()
	c := authtest.NewComfyUI("key", authtest.WithPrefix("/comfy"))
	defer c.Close()
	if err := c.Handle("GET", "/custom/:id", http.HandlerFunc(whoami)); err != nil {
		t.Fatal(err)
	}
	c.Faults.FailNextMatching("GET", "/custom", 1, http.StatusTooManyRequests, 0)
	resp, _ := rawGet(t, c.URL+"custom/1", nil)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "0", resp.Header.Get("Retry-After"))
	resp, _ = rawGet(t, c.URL+"custom/1", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	// Both are recorded, the faulted one included.
	got := c.Received()
	assert.Len(t, got, 2)
	assert.Equal(t, 2, c.Requests("GET", "/custom/1"))
}
