package authtest

// The Komga fake's request handling: the per-request state, the routing
// table, content negotiation and Spring Boot's error bodies.

import (
	"net/http"
	"regexp"
	"strings"
)

// komgaRequest is the security state of one request.
type komgaRequest struct {
	user       *komgaUser
	viaKey     bool
	keyFailed  bool // an X-API-Key was sent and rejected: status 401
	headerMode bool // the request has an X-Auth-Token header
	requested  bool // a session id was sent
	session    *komgaSession
	sessionID  string
	newSession bool
}

// komgaWriter runs commit just before the response header is written.
type komgaWriter struct {
	http.ResponseWriter
	commit func()
	done   bool
}

func (w *komgaWriter) WriteHeader(code int) {
	if !w.done {
		w.done = true
		if w.commit != nil {
			w.commit()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *komgaWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (k *Komga) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	k.lock.Lock()
	defer k.lock.Unlock()

	path := r.URL.Path
	if path != "/api" && !strings.HasPrefix(path, "/api/") && path != "/actuator/health" && path != "/actuator/info" {
		k.bootError(rw, r, http.StatusNotFound, "No endpoint "+r.Method+" "+k.requestPath(r)+".")
		return
	}
	h := rw.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-XSS-Protection", "0")
	h.Set("X-Frame-Options", "SAMEORIGIN")

	if path == "/api/logout" {
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete:
			k.logout(rw, r)
			return
		}
	}
	if _, hasKey := r.Header["X-Api-Key"]; k.legacyBug && hasKey && komgaHasCookie(r, komgaSessionCookie) {
		writeText(rw, http.StatusOK, "", "")
		return
	}

	rq := &komgaRequest{}
	w := &komgaWriter{ResponseWriter: rw, commit: func() { k.commitSession(rw, r, rq) }}
	if !k.authenticate(w, r, rq) {
		return
	}
	k.route(w, r, rq)
}

// komgaAPIStyle reports whether Spring Security's httpBasic matcher treats
// the request as a non-browser one: an XHR, an Accept with a REST media type
// and no HTML, or an Accept of exactly */* (or none).
func komgaAPIStyle(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") == "XMLHttpRequest" {
		return true
	}
	accepted := komgaAccept(r)
	html, rest := false, false
	for _, a := range accepted {
		if a.raw == "*/*" {
			return true
		}
		if komgaMediaCompatible(a.typ, "text/html") {
			html = true
		}
		if a.typ == "*/*" {
			continue
		}
		for _, t := range []string{"application/atom+xml", "application/x-www-form-urlencoded", "application/json",
			"application/octet-stream", "application/xml", "multipart/form-data", "text/xml"} {
			if komgaMediaCompatible(a.typ, t) {
				rest = true
			}
		}
	}
	return rest && !html
}

type komgaMediaType struct {
	typ string // type/subtype, lower case, without parameters
	raw string // as sent, trimmed
}

func komgaAccept(r *http.Request) []komgaMediaType {
	var out []komgaMediaType
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			typ, _, _ := strings.Cut(part, ";")
			out = append(out, komgaMediaType{typ: strings.ToLower(strings.TrimSpace(typ)), raw: part})
		}
	}
	if len(out) == 0 {
		out = []komgaMediaType{{typ: "*/*", raw: "*/*"}}
	}
	return out
}

// komgaMediaCompatible reports whether two media types (type/subtype, maybe
// with wildcards) are compatible.
func komgaMediaCompatible(a, b string) bool {
	at, as, _ := strings.Cut(a, "/")
	bt, bs, _ := strings.Cut(b, "/")
	if at != "*" && bt != "*" && at != bt {
		return false
	}
	return as == "*" || bs == "*" || as == bs
}

// komgaRoute is one endpoint: whether it answers without authentication,
// whether it needs the ADMIN role, and its handler. status is 200, or 401
// when a bad API key fell through to a public endpoint.
type komgaRoute struct {
	public, admin bool
	h             func(w http.ResponseWriter, r *http.Request, rq *komgaRequest, status int, params []string)
}

// buildRoutes is the routing table. Spring matches paths exactly.
func (k *Komga) buildRoutes() *router[komgaRoute] {
	rt := &router[komgaRoute]{}
	add := func(method, path string, public, admin bool, h func(http.ResponseWriter, *http.Request, *komgaRequest, int, []string)) {
		rt.handle(method, path, komgaRoute{public: public, admin: admin, h: h})
	}
	add(http.MethodGet, "/api/v2/users/me", false, false, func(w http.ResponseWriter, _ *http.Request, rq *komgaRequest, status int, _ []string) {
		writeJSON(w, status, k.userDto(rq.user))
	})
	add(http.MethodGet, "/api/v2/users", false, true, func(w http.ResponseWriter, _ *http.Request, _ *komgaRequest, status int, _ []string) {
		list := make([]komgaUserDto, 0, len(k.users))
		for _, u := range k.users {
			list = append(list, k.userDto(u))
		}
		writeJSON(w, status, list)
	})
	add(http.MethodGet, "/api/v2/users/me/api-keys", false, false, func(w http.ResponseWriter, _ *http.Request, rq *komgaRequest, status int, _ []string) {
		list := []komgaAPIKeyDto{}
		for _, key := range k.keys {
			if key.userID == rq.user.id {
				list = append(list, komgaKeyDto(key, "******"))
			}
		}
		writeJSON(w, status, list)
	})
	add(http.MethodPost, "/api/v2/users/me/api-keys", false, false, func(w http.ResponseWriter, r *http.Request, rq *komgaRequest, _ int, _ []string) {
		k.createAPIKey(w, r, rq)
	})
	add(http.MethodDelete, "/api/v2/users/me/api-keys/:id", false, false, func(w http.ResponseWriter, r *http.Request, rq *komgaRequest, _ int, params []string) {
		for i, key := range k.keys {
			if key.id == params[0] && key.userID == rq.user.id {
				k.keys = append(k.keys[:i:i], k.keys[i+1:]...)
				writeText(w, http.StatusNoContent, "", "")
				return
			}
		}
		k.bootError(w, r, http.StatusNotFound, "404 NOT_FOUND")
	})
	add(http.MethodGet, "/api/v1/oauth2/providers", true, false, func(w http.ResponseWriter, _ *http.Request, _ *komgaRequest, status int, _ []string) {
		list := append([]komgaProvider{}, k.providers...)
		writeJSON(w, status, list)
	})
	add(http.MethodGet, "/api/v1/login/set-cookie", false, false, func(w http.ResponseWriter, r *http.Request, rq *komgaRequest, _ int, _ []string) {
		if rq.session == nil {
			// The HttpSession argument creates a session; it holds no authentication.
			rq.sessionID, rq.session = k.newSession("", k.Clock.Now())
			rq.newSession = true
		}
		if !rq.newSession || rq.headerMode {
			w.Header().Add("Set-Cookie", k.sessionCookie(r, rq.sessionID))
		}
		writeText(w, http.StatusNoContent, "", "")
	})
	add(http.MethodGet, "/api/v1/claim", true, false, func(w http.ResponseWriter, _ *http.Request, _ *komgaRequest, status int, _ []string) {
		writeJSON(w, status, map[string]bool{"isClaimed": len(k.users) > 0})
	})
	add(http.MethodPost, "/api/v1/claim", true, false, func(w http.ResponseWriter, r *http.Request, _ *komgaRequest, status int, _ []string) {
		k.claim(w, r, status)
	})
	add(http.MethodGet, "/api/v1/series", false, false, func(w http.ResponseWriter, r *http.Request, rq *komgaRequest, status int, _ []string) {
		k.listSeries(w, r, rq, status)
	})
	add(http.MethodGet, "/actuator/health", true, false, func(w http.ResponseWriter, r *http.Request, _ *komgaRequest, status int, _ []string) {
		writeJSONType(w, status, komgaActuatorType(r), map[string]string{"status": "UP"})
	})
	add(http.MethodGet, "/actuator/info", false, true, func(w http.ResponseWriter, r *http.Request, _ *komgaRequest, status int, _ []string) {
		writeJSONType(w, status, komgaActuatorType(r), map[string]any{
			"build": map[string]string{"artifact": "komga", "name": "komga", "version": komgaVersion, "group": "org.gotson"},
		})
	})
	return rt
}

func (k *Komga) route(w http.ResponseWriter, r *http.Request, rq *komgaRequest) {
	m := k.routes.lookup(r.Method, r.URL.Path)
	rt := m.h
	if !m.found {
		if len(m.allowed) == 0 {
			if rq.user == nil {
				k.unauthorized(w, r)
				return
			}
			k.bootError(w, r, http.StatusNotFound, "No endpoint "+r.Method+" "+k.requestPath(r)+".")
			return
		}
		rt = m.first // the flags are the path's, whatever the method
	}
	if !rt.public && rq.user == nil {
		k.unauthorized(w, r)
		return
	}
	if r.Method == http.MethodOptions {
		var allow []string
		for _, method := range m.allowed {
			allow = append(allow, method)
			if method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		w.Header().Set("Allow", strings.Join(append(allow, http.MethodOptions), ","))
		writeText(w, http.StatusOK, "", "")
		return
	}
	if !m.found {
		w.Header().Set("Allow", strings.Join(m.allowed, ","))
		k.bootError(w, r, http.StatusMethodNotAllowed, "Method '"+r.Method+"' is not supported.")
		return
	}
	if rt.admin && !rq.user.roles["ADMIN"] {
		k.bootError(w, r, http.StatusForbidden, "Forbidden")
		return
	}
	status := http.StatusOK
	if rq.keyFailed {
		status = http.StatusUnauthorized // Komga's API-key filter sets 401 and lets public endpoints answer
	}
	rt.h(w, r, rq, status, m.params)
}

var komgaClaimEmail = regexp.MustCompile(`^.+@.+\..+$`)

func (k *Komga) claim(w http.ResponseWriter, r *http.Request, status int) {
	for _, h := range []string{"X-Komga-Email", "X-Komga-Password"} {
		if _, ok := r.Header[h]; !ok {
			k.bootError(w, r, http.StatusBadRequest, "Required header '"+h+"' is not present.")
			return
		}
	}
	email, password := r.Header.Get("X-Komga-Email"), r.Header.Get("X-Komga-Password")
	var violations []komgaViolation
	if !komgaClaimEmail.MatchString(email) {
		violations = append(violations, komgaViolation{"claimAdmin.email", "must be a well-formed email address"})
	}
	if komgaJavaBlank(password) {
		violations = append(violations, komgaViolation{"claimAdmin.password", "must not be blank"})
	}
	if len(violations) > 0 {
		writeJSON(w, http.StatusBadRequest, komgaViolations{violations})
		return
	}
	if len(k.users) > 0 {
		k.bootError(w, r, http.StatusBadRequest, "This server has already been claimed")
		return
	}
	roles := map[string]bool{}
	for _, role := range komgaRoles {
		roles[role] = true
	}
	u := &komgaUser{id: k.newID(), email: email, passwordHash: komgaHashPassword(password), roles: roles}
	k.users = append(k.users, u)
	writeJSON(w, status, k.userDto(u))
}

// bootError answers with Spring Boot's error JSON.
func (k *Komga) bootError(w http.ResponseWriter, r *http.Request, status int, message string) {
	writeJSON(w, status, komgaBootError{
		Timestamp: k.Clock.Now().UTC().Format("2006-01-02T15:04:05.000-07:00"),
		Status:    status,
		Error:     http.StatusText(status),
		Message:   message,
		Path:      k.requestPath(r),
	})
}

type komgaBootError struct {
	Timestamp string `json:"timestamp"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Message   string `json:"message"`
	Path      string `json:"path"`
}

// requestPath is the request path as the servlet container sees it: raw and
// with the prefix.
func (k *Komga) requestPath(r *http.Request) string {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	if !strings.HasPrefix(p, "/") {
		return k.prefix + r.URL.EscapedPath()
	}
	return p
}

// komgaActuatorType picks the content type Spring Boot's actuator would
// negotiate for the request's Accept header.
func komgaActuatorType(r *http.Request) string {
	ct := komgaActuatorJSON
	for _, a := range komgaAccept(r) {
		if a.typ == komgaActuatorJSON {
			return komgaActuatorJSON
		}
		if a.typ == "application/json" {
			ct = "application/json"
		}
	}
	return ct
}
