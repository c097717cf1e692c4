package authtest

// The Audiobookshelf fake's part in user routes ([Server.Handle]).

import (
	"net/http"
	"strings"
)

// owns reports whether the fake's own routes answer method and path.
func (st *absState) owns(method, path string) bool {
	if len(path) > 1 && strings.HasSuffix(path, "/") {
		path = path[:len(path)-1]
	}
	return st.routes.lookup(method, path).found
}

// userAuth is the auth middleware for a user route: a valid JWT or API key,
// else Audiobookshelf's bare 401.
func (st *absState) userAuth(w http.ResponseWriter, r *http.Request) (User, bool, bool) {
	st.mu.Lock()
	q := &absReq{r: r, query: r.URL.Query(), now: st.clock.Now()}
	u := st.authenticate(q)
	var user User
	if u != nil {
		user = User{ID: u.id, Name: u.username}
	}
	st.mu.Unlock()
	if u == nil {
		absBare(http.StatusUnauthorized).write(w)
		return User{}, false, false
	}
	return user, true, true
}
