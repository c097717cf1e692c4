package authtest

// The ComfyUI fake's part in user routes ([Server.Handle]).

import (
	"net/http"
	"strings"
)

// owns reports whether the fake's own routes answer method and path.
func (c *ComfyUI) owns(method, path string) bool {
	rp := path
	if strings.HasPrefix(path, "/api/") {
		rp = path[len("/api"):]
	}
	return c.routes.lookup(method, rp).found ||
		path == "/index.html" && (method == http.MethodGet || method == http.MethodHead)
}

// userAuth is the middleware chain for a user route: the simulated proxy,
// the API-key patch (with its exempt paths) and the origin check.
func (c *ComfyUI) userAuth(w http.ResponseWriter, r *http.Request) (User, bool, bool) {
	if !c.st.proxyAllows(w, r) {
		return User{}, false, false
	}
	w.Header().Set("Server", comfyServerHeader)
	if c.st.apiKey != "" && !comfyExempt(r.URL.Path) {
		if key, ok := comfyCandidateKey(r); !ok || key == "" || key != c.st.apiKey {
			writeText(w, http.StatusUnauthorized, "application/json; charset=utf-8", comfyUnauthorizedBody)
			return User{}, false, false
		}
	}
	if comfyOriginMismatch(r) {
		writeText(w, http.StatusForbidden, "", "")
		return User{}, false, false
	}
	return User{}, false, true
}
