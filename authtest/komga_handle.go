package authtest

// The Komga fake's part in user routes ([Server.Handle]).

import (
	"net/http"
	"strings"
)

// komgaOwns reports whether the fake's own routes answer method and path.
func (k *Komga) komgaOwns(method, path string) bool {
	return path == "/api/logout" || k.routes.lookup(method, path).found
}

// komgaAuth runs the security chain for a user route: a session, Basic or
// X-API-Key, else Komga's 401. A new session is returned before the
// handler runs, as Spring Session does when the response is committed.
func (k *Komga) komgaAuth(rw http.ResponseWriter, r *http.Request) (User, bool, bool) {
	k.lock.Lock()
	defer k.lock.Unlock()
	h := rw.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-XSS-Protection", "0")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	rq := &komgaRequest{}
	w := &komgaWriter{ResponseWriter: rw, commit: func() { k.commitSession(rw, r, rq) }}
	if !k.authenticate(w, r, rq) {
		return User{}, false, false
	}
	if rq.user == nil {
		k.unauthorized(w, r)
		return User{}, false, false
	}
	k.commitSession(rw, r, rq)
	return User{ID: rq.user.id, Name: strings.Clone(rq.user.email)}, true, true
}
