package authtest

// The Khoj fake's part in user routes ([Server.Handle]).

import (
	"net/http"
	"strconv"
	"strings"
)

// owns reports whether the fake's own routes answer method and path.
func (st *khojState) owns(method, path string) bool {
	return st.routes.lookup(method, path).found
}

// userAuth is requires(["authenticated"]) for a user route: a session or a
// Bearer token, else 403 {"detail":"Forbidden"} under /api/ and a 303 to
// the login page elsewhere. The session cookie is refreshed as Starlette's
// SessionMiddleware does.
func (st *khojState) userAuth(w http.ResponseWriter, r *http.Request) (User, bool, bool) {
	c := &khojCtx{r: r, query: khojParseQuery(r.URL.RawQuery), now: st.clock.Now()}
	st.mu.Lock()
	c.session, c.hadSession = st.loadSession(r, c.now)
	var resp *khojResp
	var user User
	if st.dbDown && st.needsDatabase(c) {
		d := st.databaseDown(c)
		resp = &d
	} else if u, crash := st.authenticate(c); crash {
		e := khojServerError()
		resp = &e
	} else if u == nil {
		d := khojDetail(http.StatusForbidden, "Forbidden")
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			d = st.loginRedirect(c)
		}
		resp = &d
	} else {
		user = User{ID: strconv.Itoa(u.id), Name: u.email}
	}
	noSession := resp != nil && resp.noSession
	cookie := ""
	if !noSession {
		cookie = st.sessionCookie(c)
	}
	st.mu.Unlock()
	if cookie != "" {
		w.Header().Add("Set-Cookie", cookie)
	}
	if resp != nil {
		for name, vals := range resp.header {
			w.Header()[name] = vals
		}
		writeText(w, resp.status, resp.ctype, string(resp.body))
		return User{}, false, false
	}
	return user, true, true
}
