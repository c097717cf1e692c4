package authtest

// The Komga fake's authentication: Basic login, Spring sessions (cookie and
// X-Auth-Token), remember-me cookies and logout.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// authenticate runs the security filters. It answers the request itself and
// returns false when Basic authentication fails.
func (k *Komga) authenticate(w http.ResponseWriter, r *http.Request, rq *komgaRequest) bool {
	now := k.Clock.Now()
	_, rq.headerMode = r.Header["X-Auth-Token"]
	if rq.headerMode {
		rq.requested = true
		id := r.Header.Get("X-Auth-Token")
		if s := k.lookupSession(id, now); s != nil {
			rq.session, rq.sessionID = s, id
		}
	} else {
		for _, c := range r.Cookies() {
			if c.Name != komgaSessionCookie {
				continue
			}
			rq.requested = true
			raw, err := base64.StdEncoding.DecodeString(c.Value)
			if err != nil {
				continue
			}
			if s := k.lookupSession(string(raw), now); s != nil {
				rq.session, rq.sessionID = s, string(raw)
				break
			}
		}
	}
	if rq.session != nil {
		rq.user = k.userByID(rq.session.userID)
	}

	_, hasKey := r.Header["X-Api-Key"]
	if email, password, present, ok := komgaBasicAuth(r); present {
		switch {
		case ok && rq.user != nil && rq.user.email == email:
			// Already authenticated as that user: Spring does not check again.
		case ok && k.checkPassword(email, password) != nil:
			u := k.userByEmail(email)
			k.logins++
			rq.user = u
			if !hasKey {
				k.saveInSession(rq, u, now)
				if komgaRememberMeRequested(r) {
					k.setRememberMe(w, r, u, now)
				}
			}
		default:
			k.cancelRememberMe(w, r)
			k.unauthorized(w, r)
			return false
		}
	}
	if hasKey {
		if u := k.userByKey(r.Header.Get("X-Api-Key")); u != nil {
			rq.user, rq.viaKey = u, true
		} else {
			rq.user, rq.keyFailed = nil, true
		}
	}
	if rq.user == nil && !rq.keyFailed {
		if c, err := r.Cookie(komgaRememberCookie); err == nil {
			if u := k.checkRememberMe(c.Value, now); u != nil {
				rq.user = u
				k.saveInSession(rq, u, now)
			} else {
				k.cancelRememberMe(w, r)
			}
		}
	}
	if k.legacyBug && rq.viaKey && rq.session == nil {
		k.saveInSession(rq, rq.user, now)
	}
	return true
}

// saveInSession stores an authentication in the request's session, creating
// the session if needed.
func (k *Komga) saveInSession(rq *komgaRequest, u *komgaUser, now time.Time) {
	if rq.session != nil {
		rq.session.userID = u.id
		return
	}
	rq.sessionID, rq.session = k.newSession(u.id, now)
	rq.newSession = true
}

// commitSession writes the session id of a new session, or expires the
// session the client sent when it was invalid, as Spring Session does when
// the response is committed.
func (k *Komga) commitSession(w http.ResponseWriter, r *http.Request, rq *komgaRequest) {
	switch {
	case rq.newSession && rq.headerMode:
		w.Header().Set("X-Auth-Token", rq.sessionID)
	case rq.newSession:
		w.Header().Add("Set-Cookie", k.sessionCookie(r, rq.sessionID))
	case rq.requested && rq.session == nil && rq.headerMode:
		w.Header()["X-Auth-Token"] = []string{""}
	case rq.requested && rq.session == nil:
		w.Header().Add("Set-Cookie", komgaSessionCookie+"=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path="+
			k.cookiePath()+komgaSecure(r)+"; HttpOnly; SameSite=Lax")
	}
}

func (k *Komga) sessionCookie(r *http.Request, id string) string {
	return komgaSessionCookie + "=" + base64.StdEncoding.EncodeToString([]byte(id)) +
		"; Path=" + k.cookiePath() + komgaSecure(r) + "; HttpOnly; SameSite=Lax"
}

func (k *Komga) cookiePath() string { return k.prefix + "/" }

func (k *Komga) logout(w http.ResponseWriter, r *http.Request) {
	_, headerMode := r.Header["X-Auth-Token"]
	if headerMode {
		delete(k.sessions, r.Header.Get("X-Auth-Token"))
		w.Header()["X-Auth-Token"] = []string{""}
	} else {
		for _, c := range r.Cookies() {
			if c.Name == komgaSessionCookie {
				if raw, err := base64.StdEncoding.DecodeString(c.Value); err == nil {
					delete(k.sessions, string(raw))
				}
			}
		}
	}
	w.Header().Add("Set-Cookie", komgaSessionCookie+"=; Max-Age=0; Path="+k.cookiePath()+komgaSecure(r))
	k.cancelRememberMe(w, r)
	if !komgaAPIStyle(r) {
		w.Header().Set("Location", k.prefix+"/login?logout")
		writeText(w, http.StatusFound, "", "")
		return
	}
	writeText(w, http.StatusNoContent, "", "")
}

func (k *Komga) unauthorized(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Requested-With") == "XMLHttpRequest" {
		writeText(w, http.StatusUnauthorized, "", "")
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Realm"`)
	k.bootError(w, r, http.StatusUnauthorized, "Unauthorized")
}

func (k *Komga) userByEmail(email string) *komgaUser {
	for _, u := range k.users {
		if komgaASCIIEqualFold(u.email, email) {
			return u
		}
	}
	return nil
}

func (k *Komga) userByID(id string) *komgaUser {
	for _, u := range k.users {
		if u.id == id {
			return u
		}
	}
	return nil
}

func (k *Komga) checkPassword(email, password string) *komgaUser {
	u := k.userByEmail(email)
	if u == nil || !hmac.Equal([]byte(u.passwordHash), []byte(komgaHashPassword(password))) {
		return nil
	}
	return u
}

func (k *Komga) lookupSession(id string, now time.Time) *komgaSession {
	s := k.sessions[id]
	if s == nil {
		return nil
	}
	if now.Sub(s.lastAccess) >= komgaSessionTimeout {
		delete(k.sessions, id)
		return nil
	}
	s.lastAccess = now
	return s
}

func (k *Komga) newSession(userID string, now time.Time) (string, *komgaSession) {
	id := uuid4()
	s := &komgaSession{userID: userID, lastAccess: now}
	k.sessions[id] = s
	return id, s
}

// setRememberMe sets the remember-me cookie the way Spring's
// TokenBasedRememberMeServices builds it: Base64 (unpadded) of
// "email:expiryMillis:SHA256:signature".
func (k *Komga) setRememberMe(w http.ResponseWriter, r *http.Request, u *komgaUser, now time.Time) {
	expiry := strconv.FormatInt(now.Add(komgaRememberMaxAge*time.Second).UnixMilli(), 10)
	tokens := url.QueryEscape(u.email) + ":" + expiry + ":SHA256:" + k.rememberSignature(u, expiry)
	value := base64.RawStdEncoding.EncodeToString([]byte(tokens))
	w.Header().Add("Set-Cookie", komgaRememberCookie+"="+value+"; Max-Age="+strconv.Itoa(komgaRememberMaxAge)+
		"; Path="+k.cookiePath()+komgaSecure(r)+"; HttpOnly")
}

func (k *Komga) cancelRememberMe(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Set-Cookie", komgaRememberCookie+"=; Max-Age=0; Path="+k.cookiePath()+komgaSecure(r))
}

func (k *Komga) rememberSignature(u *komgaUser, expiry string) string {
	sum := sha256.Sum256([]byte(u.email + ":" + expiry + ":" + u.passwordHash + ":" + k.rememberKey))
	return hex.EncodeToString(sum[:])
}

func (k *Komga) checkRememberMe(value string, now time.Time) *komgaUser {
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(value, "="))
	if err != nil {
		return nil
	}
	tokens := strings.Split(string(raw), ":")
	if len(tokens) != 4 || tokens[2] != "SHA256" {
		return nil
	}
	email, err := url.QueryUnescape(tokens[0])
	if err != nil {
		return nil
	}
	expiry, err := strconv.ParseInt(tokens[1], 10, 64)
	if err != nil || expiry < now.UnixMilli() {
		return nil
	}
	u := k.userByEmail(email)
	if u == nil || !hmac.Equal([]byte(tokens[3]), []byte(k.rememberSignature(u, tokens[1]))) {
		return nil
	}
	return u
}

// komgaBasicAuth parses an Authorization: Basic header the way Spring's
// BasicAuthenticationConverter does. present is false when there is no Basic
// header (Bearer and other schemes are ignored); ok is false when it cannot
// be decoded.
func komgaBasicAuth(r *http.Request) (email, password string, present, ok bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(h) < 5 || !strings.EqualFold(h[:5], "Basic") {
		return "", "", false, false
	}
	if len(h) < 6 {
		return "", "", true, false
	}
	tok := strings.TrimSpace(h[6:])
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(tok)
		if err != nil {
			return "", "", true, false
		}
	}
	email, password, found := strings.Cut(string(raw), ":")
	return email, password, true, found
}

func komgaRememberMeRequested(r *http.Request) bool {
	v := r.URL.Query().Get("remember-me")
	if v == "" && r.Method != http.MethodGet && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		_ = r.ParseForm()
		v = r.PostForm.Get("remember-me")
	}
	switch strings.ToLower(v) {
	case "true", "on", "yes", "1":
		return true
	}
	return false
}

func komgaHasCookie(r *http.Request, name string) bool {
	_, err := r.Cookie(name)
	return err == nil
}

func komgaSecure(r *http.Request) string {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return "; Secure"
	}
	return ""
}

func komgaHashPassword(password string) string {
	sum := sha256.Sum256([]byte("komga-password:" + password))
	return hex.EncodeToString(sum[:])
}
