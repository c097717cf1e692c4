package authtest

// The Audiobookshelf fake's OpenID Connect sign-in (web and mobile) and the
// fake identity provider it talks to.

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

func (st *absState) validMobileRedirect(uri string) bool {
	for _, u := range st.redirectURIs {
		if u == "*" || u == uri {
			return true
		}
	}
	return false
}

// validWebCallback is OidcAuthStrategy.isValidWebCallbackUrl.
func (st *absState) validWebCallback(q *absReq, cb string) bool {
	if strings.HasPrefix(cb, "/") {
		return strings.HasPrefix(cb, st.basePath+"/")
	}
	u, err := url.Parse(cb)
	if err != nil || u.Scheme == "" {
		return false
	}
	proto := "http"
	if absIsSecure(q.r) {
		proto = "https"
	}
	return u.Scheme == proto && u.Host == q.r.Host && strings.HasPrefix(u.Path, st.basePath+"/")
}

func (st *absState) hOpenID(q *absReq) *absResp {
	if !st.openID {
		// getClient() throws outside the handler's try: Express's 500 page.
		return absExpressError(http.StatusInternalServerError, "Internal Server Error")
	}
	qs := q.query
	isMobile := qs.Get("response_type") != "" || qs.Get("redirect_uri") != "" || qs.Get("code_challenge") != ""
	if rt := qs.Get("response_type"); rt != "" && rt != "code" {
		return absSendText(http.StatusBadRequest, "Invalid response_type, only code supported")
	}
	state := randBase64URL(24)
	if isMobile && qs.Get("state") != "" {
		state = qs.Get("state")
	}
	origin := absOrigin(q.r)
	var ssoRedirect string
	if isMobile {
		if ru := qs.Get("redirect_uri"); ru == "" || !st.validMobileRedirect(ru) {
			return absSendText(http.StatusBadRequest, "Invalid redirect_uri")
		}
		ssoRedirect = origin + st.basePath + "/auth/openid/mobile-redirect"
	} else {
		ssoRedirect = origin + st.basePath + "/auth/openid/callback"
		if qs.Get("state") != "" {
			return absSendText(http.StatusBadRequest, "Invalid state, not allowed on web flow")
		}
	}
	var challenge, verifier string
	if isMobile {
		challenge = qs.Get("code_challenge")
		if challenge == "" {
			return absSendText(http.StatusBadRequest, "code_challenge required for mobile flow (PKCE)")
		}
		if m := qs.Get("code_challenge_method"); m != "" && m != "S256" {
			return absSendText(http.StatusBadRequest, "Only S256 code_challenge_method method supported")
		}
	} else {
		verifier = randBase64URL(32)
		challenge = absS256(verifier)
	}
	nonce := randBase64URL(16)
	if isMobile {
		for s, e := range st.mobileStates {
			if q.now.Sub(e.createdAt) > absMobileStateTTL {
				delete(st.mobileStates, s)
			}
		}
		st.mobileStates[state] = &absMobileState{mobileRedirectURI: qs.Get("redirect_uri"),
			ssoRedirectURI: ssoRedirect, nonce: nonce, createdAt: q.now}
	}
	ws, sidCookie := st.webSession(q), ""
	if ws == nil {
		ws, sidCookie = st.newWebSession(q)
	}
	ws.oidc = &absOIDCSession{state: state, nonce: nonce, codeVerifier: verifier, ssoRedirectURI: ssoRedirect, isMobile: isMobile}
	withSession := func(resp *absResp) *absResp {
		if sidCookie != "" {
			resp.addCookie(sidCookie)
		}
		return resp
	}

	var cookies []string
	method := "openid-mobile"
	if !isMobile {
		method = "openid"
		cb := qs.Get("callback")
		if cb == "" {
			return withSession(absJSON(http.StatusBadRequest, map[string]string{"message": "No callback parameter"}))
		}
		if !st.validWebCallback(q, cb) {
			return withSession(absJSON(http.StatusBadRequest, map[string]string{"message": "Invalid callback URL - must be same-origin"}))
		}
		cookies = append(cookies, absSetCookie("auth_cb", cb, absCookieOpts{maxAge: 2 * time.Minute, httpOnly: true}, q.now))
	}
	cookies = append(cookies, absSetCookie("auth_method", method, absCookieOpts{maxAge: absCookieTenYears, httpOnly: true}, q.now))

	v := url.Values{}
	v.Set("client_id", "audiobookshelf")
	v.Set("scope", "openid profile email")
	v.Set("response_type", "code")
	v.Set("redirect_uri", ssoRedirect)
	v.Set("state", state)
	v.Set("nonce", nonce)
	v.Set("code_challenge", challenge)
	v.Set("code_challenge_method", "S256")
	resp := absRedirect(q.r, origin+"/fake-idp/authorize?"+v.Encode())
	for _, c := range cookies {
		resp.addCookie(c)
	}
	return withSession(resp)
}

func (st *absState) hMobileRedirect(q *absReq) *absResp {
	state := q.query.Get("state")
	e := st.mobileStates[state]
	if state == "" || e == nil {
		return absSendText(http.StatusBadRequest, "State parameter mismatch")
	}
	if e.mobileRedirectURI == "" {
		return absSendText(http.StatusBadRequest, "No redirect URI")
	}
	delete(st.mobileStates, state)
	loc := e.mobileRedirectURI + "?code=" + absEncodeURIComponent(q.query.Get("code")) + "&state=" + absEncodeURIComponent(state)
	if q.query.Get("code") == "" && q.query.Get("error") != "" {
		loc = e.mobileRedirectURI + "?error=" + absEncodeURIComponent(q.query.Get("error")) + "&state=" + absEncodeURIComponent(state)
	}
	return absRedirect(q.r, loc)
}

func (st *absState) hOpenIDCallback(q *absReq) *absResp {
	if !st.openID {
		return absExpressError(http.StatusInternalServerError, "Internal Server Error")
	}
	ws := st.webSession(q)
	if ws == nil || ws.oidc == nil {
		return absSendText(http.StatusBadRequest, "No session")
	}
	o := ws.oidc
	ws.oidc = nil // the openid-client strategy consumes the session data
	fail := func(status int, msg string) *absResp {
		if o.isMobile {
			return absSendText(status, msg)
		}
		return absRedirect(q.r, "/login?error="+absEncodeURIComponent(msg)+"&autoLaunch=0")
	}
	if q.query.Get("error") != "" || q.query.Get("state") != o.state {
		return fail(http.StatusInternalServerError, "Error in callback")
	}
	code := st.idpCodes[q.query.Get("code")]
	delete(st.idpCodes, q.query.Get("code"))
	if code == nil || !code.expiresAt.After(q.now) || code.redirectURI != o.ssoRedirectURI {
		return fail(http.StatusInternalServerError, "Error in callback") // invalid_grant
	}
	verifier := q.query.Get("code_verifier")
	if verifier == "" {
		verifier = o.codeVerifier
	}
	if code.codeChallenge != "" && (verifier == "" || absS256(verifier) != code.codeChallenge) {
		return fail(http.StatusInternalServerError, "Error in callback") // invalid_grant
	}
	u := st.userByName(code.username)
	if u == nil || !u.active {
		return fail(http.StatusUnauthorized, "Unauthorized")
	}
	u.openIDLinked = true

	_, sid := st.newWebSession(q) // req.logIn regenerates the session
	idToken := absSign(st.secret, map[string]any{"iss": absOrigin(q.r) + "/fake-idp", "sub": u.id,
		"aud": "audiobookshelf", "nonce": code.nonce, "preferred_username": u.username,
		"iat": q.now.Unix(), "exp": q.now.Add(time.Hour).Unix()})
	cookies := []string{
		absSetCookie("openid_id_token", idToken, absCookieOpts{maxAge: absCookieTenYears, httpOnly: true, secure: true, sameSite: "Strict"}, q.now),
	}
	authMethod := absCookieValue(q.r, "auth_method")
	tokens := st.createTokensAndSession(u, q)
	var resp *absResp
	if authMethod == "openid-mobile" || authMethod == "api" {
		resp = absJSON(http.StatusOK, st.loginPayload(q, u, &tokens, true))
	} else {
		cookies = append(cookies, st.refreshCookie(q, tokens.refresh))
		if cb := absCookieValue(q.r, "auth_cb"); cb != "" {
			resp = absRedirect(q.r, cb+"?setToken="+u.token+"&accessToken="+tokens.access)
		} else {
			resp = absSendText(http.StatusBadRequest, "No callback or already expired")
		}
	}
	for _, c := range cookies {
		resp.addCookie(c)
	}
	return resp.addCookie(sid)
}

// hIDPAuthorize is the fake identity provider's authorization endpoint: it
// logs in at once as the SetOpenIDUser user and redirects back with a code.
func (st *absState) hIDPAuthorize(q *absReq) *absResp {
	ru := q.query.Get("redirect_uri")
	u, err := url.Parse(ru)
	if q.query.Get("response_type") != "code" || ru == "" || err != nil || !u.IsAbs() {
		return &absResp{status: http.StatusBadRequest, contentType: absCTPlain, body: []byte("invalid_request")}
	}
	if m := q.query.Get("code_challenge_method"); q.query.Get("code_challenge") != "" && m != "" && m != "S256" {
		return &absResp{status: http.StatusBadRequest, contentType: absCTPlain, body: []byte("invalid_request")}
	}
	code := randBase64URL(24)
	st.idpCodes[code] = &absIDPCode{username: st.openIDUser, codeChallenge: q.query.Get("code_challenge"),
		redirectURI: ru, nonce: q.query.Get("nonce"), expiresAt: q.now.Add(absIDPCodeTTL)}
	v := u.Query()
	v.Set("code", code)
	if s := q.query.Get("state"); s != "" {
		v.Set("state", s)
	}
	u.RawQuery = v.Encode()
	return absRedirect(q.r, u.String())
}

func (st *absState) hIDPLogout(q *absReq) *absResp {
	return &absResp{status: http.StatusOK, contentType: absCTPlain, body: []byte("Logged out")}
}

func (st *absState) hIDPConfig(q *absReq) *absResp {
	idp := absOrigin(q.r) + "/fake-idp"
	return absJSON(http.StatusOK, map[string]any{
		"issuer": idp, "authorization_endpoint": idp + "/authorize", "token_endpoint": idp + "/token",
		"userinfo_endpoint": idp + "/userinfo", "end_session_endpoint": idp + "/logout", "jwks_uri": idp + "/jwks",
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}
