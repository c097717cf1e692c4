package authtest

// The Audiobookshelf fake's authentication: the auth middleware, the rate
// limiter, /init, local login, token refresh, logout, sessions and the
// password change.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// authenticate is passport-jwt plus TokenManager.jwtAuthCheck.
func (st *absState) authenticate(q *absReq) *absUser {
	token := ""
	if f := strings.Fields(q.r.Header.Get("Authorization")); len(f) >= 2 && strings.EqualFold(f[0], "bearer") {
		token = f[1]
	} else {
		token = q.query.Get("token")
	}
	if token == "" {
		return nil
	}
	claims, ok := absVerify(st.secret, token)
	if !ok {
		return nil
	}
	nowSec := float64(q.now.UnixMilli()) / 1000
	exp, hasExp := absClaimExp(claims)
	switch absClaimString(claims, "type") {
	case "api":
		k := st.keyByID(absClaimString(claims, "keyId"))
		if k == nil || !k.active {
			return nil
		}
		if hasExp && exp < nowSec {
			k.active = false
			k.updatedAt = q.now
			return nil
		}
		u := st.userByID(k.userID)
		if u == nil || !u.active {
			return nil
		}
		return u
	case "refresh":
		return nil
	default: // "access" or a legacy token without type
		if hasExp && exp < nowSec {
			return nil
		}
		u := st.userByID(absClaimString(claims, "userId"))
		if u == nil || !u.active {
			return nil
		}
		u.isOldToken = !hasExp
		return u
	}
}

// rateLimit counts the request in the shared auth limiter and returns the
// draft-6 headers and whether the request is over the limit.
func (st *absState) rateLimit(q *absReq) (http.Header, bool) {
	if st.rateMax <= 0 {
		return nil, false
	}
	ip := absClientIP(q.r)
	e := st.limiter[ip]
	if e == nil || !e.reset.After(q.now) {
		e = &absRateEntry{reset: q.now.Add(st.rateWindow)}
		st.limiter[ip] = e
	}
	e.hits++
	remaining := st.rateMax - e.hits
	if remaining < 0 {
		remaining = 0
	}
	reset := int64(math.Ceil(e.reset.Sub(q.now).Seconds()))
	if reset < 0 {
		reset = 0
	}
	h := http.Header{}
	h.Set("RateLimit-Policy", strconv.Itoa(st.rateMax)+";w="+strconv.FormatInt(int64(math.Ceil(st.rateWindow.Seconds())), 10))
	h.Set("RateLimit-Limit", strconv.Itoa(st.rateMax))
	h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset, 10))
	blocked := e.hits > st.rateMax
	if blocked {
		h.Set("Retry-After", strconv.FormatInt(reset, 10))
	}
	return h, blocked
}

// absTokens is an access/refresh token pair.
type absTokens struct{ access, refresh string }

func (st *absState) accessToken(u *absUser, now time.Time) string {
	exp := float64(now.Unix() + int64(st.accessTTL/time.Second))
	return absSign(st.secret, absClaims{UserID: u.id, Username: u.username, JTI: uuid4(), Type: "access", Iat: now.Unix(), Exp: &exp})
}

func (st *absState) refreshToken(u *absUser, now time.Time) string {
	exp := float64(now.Unix() + int64(st.refreshTTL/time.Second))
	return absSign(st.secret, absClaims{UserID: u.id, Username: u.username, JTI: uuid4(), Type: "refresh", Iat: now.Unix(), Exp: &exp})
}

func (st *absState) createTokensAndSession(u *absUser, q *absReq) absTokens {
	t := absTokens{access: st.accessToken(u, q.now), refresh: st.refreshToken(u, q.now)}
	st.sessions = append(st.sessions, &absSession{
		id: uuid4(), userID: u.id, ip: absClientIP(q.r), userAgent: q.r.UserAgent(),
		refreshToken: t.refresh, expiresAt: q.now.Add(st.refreshTTL), createdAt: q.now, updatedAt: q.now,
	})
	return t
}

func (st *absState) deleteSessions(keep func(*absSession) bool) {
	out := st.sessions[:0]
	for _, s := range st.sessions {
		if keep(s) {
			out = append(out, s)
		}
	}
	for i := len(out); i < len(st.sessions); i++ {
		st.sessions[i] = nil
	}
	st.sessions = out
}

func (st *absState) refreshCookie(q *absReq, token string) string {
	return absSetCookie("refresh_token", token, absCookieOpts{maxAge: st.refreshTTL, httpOnly: true,
		secure: absIsSecure(q.r), sameSite: "Lax"}, q.now)
}

// newWebSession creates an express-session and returns it with its
// connect.sid Set-Cookie value.
func (st *absState) newWebSession(q *absReq) (*absWebSession, string) {
	id := randBase64URL(24)
	ws := &absWebSession{}
	st.webSessions[id] = ws
	mac := hmac.New(sha256.New, st.sidSecret)
	mac.Write([]byte(id))
	val := "s:" + id + "." + base64.RawStdEncoding.EncodeToString(mac.Sum(nil))
	return ws, absSetCookie("connect.sid", val, absCookieOpts{httpOnly: true}, q.now)
}

// webSession finds the express-session of the connect.sid cookie.
func (st *absState) webSession(q *absReq) *absWebSession {
	v := absCookieValue(q.r, "connect.sid")
	if !strings.HasPrefix(v, "s:") {
		return nil
	}
	i := strings.LastIndexByte(v, '.')
	if i < 2 {
		return nil
	}
	id, sig := v[2:i], v[i+1:]
	mac := hmac.New(sha256.New, st.sidSecret)
	mac.Write([]byte(id))
	if !hmac.Equal([]byte(sig), []byte(base64.RawStdEncoding.EncodeToString(mac.Sum(nil)))) {
		return nil
	}
	return st.webSessions[id]
}

func (st *absState) hInit(q *absReq) *absResp {
	if st.hasRoot() {
		return absStatus(http.StatusInternalServerError)
	}
	newRoot, ok := q.body["newRoot"]
	if !ok || newRoot == nil {
		// The real server crashes here (TypeError); answer 500 instead.
		return absStatus(http.StatusInternalServerError)
	}
	username, password := "root", ""
	if m, ok := newRoot.(map[string]any); ok {
		switch v := m["username"].(type) {
		case string:
			if v != "" {
				username = v
			}
		default:
			if absTruthy(v) {
				return absStatus(http.StatusInternalServerError)
			}
		}
		switch v := m["password"].(type) {
		case string:
			password = v
		default:
			if absTruthy(v) {
				return absStatus(http.StatusInternalServerError)
			}
		}
	}
	st.addUserLocked(username, password, "root")
	return absStatus(http.StatusOK)
}

// loginField is passport-local's lookup: body first, then query string.
func (q *absReq) loginField(name string) (any, bool) {
	if v, ok := q.body[name]; ok && v != nil {
		return v, true
	}
	if vs, ok := q.query[name]; ok && len(vs) > 0 {
		return vs[0], true
	}
	return nil, false
}

// checkPassword is LocalAuthStrategy's password check.
func absCheckPassword(u *absUser, password string) bool {
	if u.password == "" {
		return u.typ == "root" && password == ""
	}
	return hmac.Equal([]byte(u.password), []byte(password))
}

func (st *absState) hLogin(q *absReq) *absResp {
	uv, okU := q.loginField("username")
	pv, okP := q.loginField("password")
	if !okU || !okP {
		return absBare(http.StatusBadRequest)
	}
	username, ok1 := uv.(string)
	password, ok2 := pv.(string)
	if !ok1 || !ok2 {
		return absBare(http.StatusUnauthorized)
	}
	u := st.userByName(strings.ToLower(username))
	if u == nil || !u.active || !absCheckPassword(u, password) {
		return absBare(http.StatusUnauthorized)
	}
	st.logins++
	returnTokens := q.r.Header.Get("X-Return-Tokens") == "true"
	tokens := st.createTokensAndSession(u, q)
	resp := absJSON(http.StatusOK, st.loginPayload(q, u, &tokens, returnTokens))
	if !returnTokens {
		resp.addCookie(st.refreshCookie(q, tokens.refresh))
	}
	_, sid := st.newWebSession(q)
	return resp.addCookie(sid)
}

func absRefreshError(msg string) *absResp {
	return absJSON(http.StatusUnauthorized, map[string]string{"error": msg})
}

func (st *absState) hRefresh(q *absReq) *absResp {
	token := absCookieValue(q.r, "refresh_token")
	fromHeader := false
	if h := q.r.Header.Get("X-Refresh-Token"); h != "" {
		token, fromHeader = h, true
	}
	if token == "" {
		return absRefreshError("No refresh token provided")
	}
	claims, ok := absVerify(st.secret, token)
	if !ok {
		return absRefreshError("Invalid refresh token")
	}
	if exp, has := absClaimExp(claims); has && float64(q.now.Unix()) >= exp {
		st.deleteSessions(func(s *absSession) bool { return s.refreshToken != token })
		return absRefreshError("Refresh token expired")
	}
	if absClaimString(claims, "type") != "refresh" {
		return absRefreshError("Invalid token type")
	}
	var sess *absSession
	for _, s := range st.sessions {
		if s.refreshToken == token || s.lastRefreshToken == token {
			sess = s
			break
		}
	}
	if sess == nil {
		return absRefreshError("Invalid refresh token")
	}
	grace := false
	if sess.refreshToken != token {
		if !sess.lastRefreshExpiresAt.After(q.now) {
			return absRefreshError("Invalid refresh token")
		}
		grace = true
	} else if sess.expiresAt.Before(q.now) {
		st.deleteSessions(func(s *absSession) bool { return s != sess })
		return absRefreshError("Refresh token expired")
	}
	u := st.userByID(absClaimString(claims, "userId"))
	if u == nil || !u.active {
		return absRefreshError("User not found or inactive")
	}
	tokens := absTokens{access: st.accessToken(u, q.now), refresh: sess.refreshToken}
	if !grace {
		tokens.refresh = st.refreshToken(u, q.now)
		sess.lastRefreshToken, sess.lastRefreshExpiresAt = sess.refreshToken, q.now.Add(st.grace)
		sess.refreshToken, sess.expiresAt, sess.updatedAt = tokens.refresh, q.now.Add(st.refreshTTL), q.now
	}
	st.refreshes++
	resp := absJSON(http.StatusOK, st.loginPayload(q, u, &tokens, fromHeader))
	return resp.addCookie(st.refreshCookie(q, tokens.refresh))
}

func (st *absState) hLogout(q *absReq) *absResp {
	token := absCookieValue(q.r, "refresh_token")
	if token == "" {
		token = q.r.Header.Get("X-Refresh-Token")
	}
	if token != "" {
		all := q.query.Get("allDevices")
		if all == "1" || all == "true" {
			if claims, ok := absVerify(st.secret, token); ok {
				if uid := absClaimString(claims, "userId"); uid != "" {
					st.deleteSessions(func(s *absSession) bool { return s.userID != uid })
				}
			}
		} else {
			st.deleteSessions(func(s *absSession) bool { return s.refreshToken != token })
		}
	}
	authMethod := absCookieValue(q.r, "auth_method")
	var redirect *string
	if st.openID && (authMethod == "openid" || authMethod == "openid-mobile") {
		v := url.Values{}
		if idt := absCookieValue(q.r, "openid_id_token"); idt != "" {
			v.Set("id_token_hint", idt)
		}
		if authMethod == "openid" {
			v.Set("post_logout_redirect_uri", absOrigin(q.r)+st.basePath+"/login")
		}
		s := absOrigin(q.r) + "/fake-idp/logout"
		if len(v) > 0 {
			s += "?" + v.Encode()
		}
		redirect = &s
	}
	resp := absJSON(http.StatusOK, map[string]*string{"redirect_url": redirect})
	resp.addCookie(absClearCookie("refresh_token")).addCookie(absClearCookie("auth_method"))
	if authMethod == "openid" || authMethod == "openid-mobile" {
		resp.addCookie(absClearCookie("openid_id_token"))
	}
	_, sid := st.newWebSession(q)
	return resp.addCookie(sid)
}

type absLoginPayload struct {
	User                 any               `json:"user"`
	UserDefaultLibraryID *string           `json:"userDefaultLibraryId"`
	ServerSettings       absServerSettings `json:"serverSettings"`
	EreaderDevices       []any             `json:"ereaderDevices"`
	Source               string            `json:"Source"`
}

// loginPayload is Auth.getUserLoginResponsePayload; with tokens it adds
// user.accessToken and user.refreshToken (null unless returnRefresh).
func (st *absState) loginPayload(q *absReq, u *absUser, tokens *absTokens, returnRefresh bool) absLoginPayload {
	p := absLoginPayload{ServerSettings: st.serverSettings(q), EreaderDevices: []any{}, Source: "debian"}
	if len(st.libraries) > 0 {
		id := st.libraries[0].id
		p.UserDefaultLibraryID = &id
	}
	if tokens == nil {
		p.User = absUserToJSON(u)
	} else {
		uj := absUserWithTokens{absUserJSON: absUserToJSON(u), AccessToken: tokens.access}
		if returnRefresh {
			rt := tokens.refresh
			uj.RefreshToken = &rt
		}
		p.User = uj
	}
	return p
}

func (st *absState) hAuthorize(q *absReq) *absResp {
	return absJSON(http.StatusOK, st.loginPayload(q, q.user, nil, false))
}

func (st *absState) hMe(q *absReq) *absResp {
	return absJSON(http.StatusOK, absUserToJSON(q.user))
}

// absToNumber is the server's toNumber helper (default when not a number).
func absToNumber(s string, def int) int {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return def
	}
	return int(f)
}

type absSessionJSON struct {
	ID         string  `json:"id"`
	IPAddress  string  `json:"ipAddress"`
	UserAgent  *string `json:"userAgent"`
	DeviceInfo any     `json:"deviceInfo"`
	CreatedAt  int64   `json:"createdAt"`
	UpdatedAt  int64   `json:"updatedAt"`
	Current    bool    `json:"current"`
}

func (st *absState) hMeSessions(q *absReq) *absResp {
	page := max(0, absToNumber(q.query.Get("page"), 0))
	perPage := max(1, absToNumber(q.query.Get("itemsPerPage"), 10))
	out := map[string]any{"total": 0, "numPages": 0, "page": page, "itemsPerPage": perPage, "sessions": []absSessionJSON{}}
	if q.user.typ == "guest" {
		return absJSON(http.StatusOK, out)
	}
	current := absCookieValue(q.r, "refresh_token")
	if current == "" {
		current = q.r.Header.Get("X-Refresh-Token")
	}
	var rows []*absSession
	for _, s := range st.sessions {
		if s.userID == q.user.id && s.expiresAt.After(q.now) {
			rows = append(rows, s)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].updatedAt.After(rows[j].updatedAt) })
	list := []absSessionJSON{}
	for i := page * perPage; i < len(rows) && i < (page+1)*perPage; i++ {
		s := rows[i]
		sj := absSessionJSON{ID: s.id, IPAddress: s.ip, CreatedAt: s.createdAt.UnixMilli(), UpdatedAt: s.updatedAt.UnixMilli(),
			Current: current != "" && (s.refreshToken == current || s.lastRefreshToken == current)}
		if s.userAgent != "" {
			ua := s.userAgent
			sj.UserAgent = &ua
		}
		list = append(list, sj)
	}
	out["total"], out["numPages"], out["sessions"] = len(rows), (len(rows)+perPage-1)/perPage, list
	return absJSON(http.StatusOK, out)
}

func (st *absState) hDeleteMeSession(q *absReq) *absResp {
	if q.user.typ == "guest" {
		return absStatus(http.StatusForbidden)
	}
	id := q.params[0]
	if !absUUIDRe.MatchString(id) {
		return absStatus(http.StatusBadRequest)
	}
	found := false
	st.deleteSessions(func(s *absSession) bool {
		if s.id == id && s.userID == q.user.id {
			found = true
			return false
		}
		return true
	})
	if !found {
		return absStatus(http.StatusNotFound)
	}
	return absStatus(http.StatusOK)
}

func (st *absState) hMePassword(q *absReq) *absResp {
	if q.user.typ == "guest" {
		return absStatus(http.StatusForbidden)
	}
	pv, pok := q.body["password"]
	nv, nok := q.body["newPassword"]
	password, ps := pv.(string)
	newPassword, ns := nv.(string)
	if !pok || !nok || (!ps && pv != nil) || (!ns && nv != nil) {
		return absSendText(http.StatusBadRequest, "Missing or invalid password or new password")
	}
	u := q.user
	if u.typ != "root" && newPassword == "" {
		return absSendText(http.StatusBadRequest, "Invalid new password - Only root can have an empty password")
	}
	if !absCheckPassword(u, password) {
		return absSendText(http.StatusBadRequest, "Invalid password")
	}
	u.password = newPassword

	// Invalidate the other sessions; rotate the caller's own one.
	current := absCookieValue(q.r, "refresh_token")
	if current == "" {
		current = q.r.Header.Get("X-Refresh-Token")
	}
	var sess *absSession
	for _, s := range st.sessions {
		if current != "" && s.userID == u.id && s.refreshToken == current {
			sess = s
		}
	}
	if sess == nil {
		st.deleteSessions(func(s *absSession) bool { return s.userID != u.id })
		return absStatus(http.StatusOK)
	}
	st.deleteSessions(func(s *absSession) bool { return s.userID != u.id || s == sess })
	tokens := absTokens{access: st.accessToken(u, q.now), refresh: st.refreshToken(u, q.now)}
	sess.refreshToken, sess.lastRefreshToken, sess.lastRefreshExpiresAt = tokens.refresh, "", time.Time{}
	sess.expiresAt, sess.updatedAt = q.now.Add(st.refreshTTL), q.now
	var resp *absResp
	if q.r.Header.Get("X-Refresh-Token") != "" {
		resp = absJSON(http.StatusOK, map[string]any{"success": true,
			"user": map[string]string{"accessToken": tokens.access, "refreshToken": tokens.refresh}})
	} else {
		resp = absStatus(http.StatusOK)
	}
	return resp.addCookie(st.refreshCookie(q, tokens.refresh))
}
