package authtest

// The ComfyUI fake's access checks: the simulated reverse proxy, the API-key
// patch's middleware and mainline's origin check.

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// proxyAllows applies the simulated reverse proxy's checks and answers the
// request itself when they fail.
func (st *comfyState) proxyAllows(w http.ResponseWriter, r *http.Request) bool {
	st.mu.Lock()
	hdrName, hdrValue := st.hdrName, st.hdrValue
	user, pass := st.basicUser, st.basicPass
	st.mu.Unlock()
	if hdrName != "" && r.Header.Get(hdrName) != hdrValue {
		writeText(w, http.StatusForbidden, "text/plain; charset=utf-8", "403 Forbidden\n")
		return false
	}
	if user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="ComfyUI"`)
			writeText(w, http.StatusUnauthorized, "text/plain; charset=utf-8", "401 Unauthorized\n")
			return false
		}
	}
	return true
}

// comfyExempt is the patch's is_path_exempt.
func comfyExempt(path string) bool {
	if path == "/health" || path == "/ws" || path == "/" {
		return true
	}
	for _, s := range comfyStaticSuffixes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	for _, p := range comfyStaticPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// comfyCandidateKey is the patch's extract_api_key: the first source present
// wins. ok is false when no source gave a key.
func comfyCandidateKey(r *http.Request) (string, bool) {
	if k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return k, true
	}
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k, true
	}
	if k := r.URL.Query().Get("api_key"); k != "" {
		return k, true
	}
	return "", false
}

// comfyOriginMismatch is mainline's origin-only check: with both Host and
// Origin present and a loopback Host, their host names must match.
func comfyOriginMismatch(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || r.Host == "" {
		return false
	}
	o, err := url.Parse(origin)
	if err != nil {
		return false
	}
	h, err := url.Parse("//" + strings.ToLower(r.Host))
	if err != nil {
		return false
	}
	hostName := strings.ToLower(h.Hostname())
	ip := net.ParseIP(hostName)
	if !(hostName == "localhost" || (ip != nil && ip.IsLoopback())) {
		return false
	}
	hostDomain, originDomain := strings.ToLower(r.Host), strings.ToLower(o.Host)
	if o.Port() == "" {
		hostDomain = hostName
	}
	if h.Port() == "" {
		originDomain = strings.ToLower(o.Hostname())
	}
	return hostDomain != "" && originDomain != "" && hostDomain != originDomain
}
