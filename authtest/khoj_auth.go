package authtest

// The Khoj fake's authentication: the session cookie, bearer tokens, the
// magic-link and Google sign-in flows, and their rate limit.
//
// Session cookies: base64(JSON) "." base64(timestamp) "." base64(HMAC), like
// itsdangerous' TimestampSigner, but with the fake's own random key.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// authenticate is UserAuthenticationBackend.authenticate. crash reports the
// client-app branch raising an exception (a 500 outside FastAPI).
func (st *khojState) authenticate(c *khojCtx) (user *khojUser, crash bool) {
	if su, ok := c.session["user"].(map[string]any); ok {
		if email, ok := su["email"].(string); ok && email != "" {
			if u := st.users[email]; u != nil {
				return u, false
			}
		}
	}
	if parts := strings.Split(c.r.Header.Get("Authorization"), "Bearer "); len(parts) == 2 {
		for _, t := range st.tokens {
			if t.token == parts[1] {
				if u := st.userByID(t.userID); u != nil {
					return u, false
				}
			}
		}
	}
	if id, _ := c.q("client_id"); id != "" {
		vals, ok := c.r.Header["Authorization"]
		if !ok || len(vals) == 0 {
			return nil, true // KeyError: 'Authorization'
		}
		parts := strings.Split(vals[0], "Bearer ")
		if len(parts) < 2 || parts[1] == "" {
			return nil, true // IndexError, or a Response returned instead of credentials
		}
		return nil, false // no such client application
	}
	if st.anonymous {
		return st.defaultUser, false
	}
	return nil, false
}

func (st *khojState) signSession(session map[string]any, now time.Time) string {
	data, _ := json.Marshal(session)
	ts := make([]byte, 8)
	binary.BigEndian.PutUint64(ts, uint64(now.Unix()))
	value := base64.StdEncoding.EncodeToString(data) + "." + base64.RawURLEncoding.EncodeToString(bytes.TrimLeft(ts, "\x00"))
	return value + "." + base64.RawURLEncoding.EncodeToString(st.mac(value))
}

func (st *khojState) mac(value string) []byte {
	m := hmac.New(sha256.New, st.key)
	m.Write([]byte(value))
	return m.Sum(nil)
}

// loadSession returns the session of a valid cookie (valid reports one was
// present), or an empty session.
func (st *khojState) loadSession(r *http.Request, now time.Time) (session map[string]any, valid bool) {
	session = map[string]any{}
	ck, err := r.Cookie("session")
	if err != nil {
		return session, false
	}
	i := strings.LastIndexByte(ck.Value, '.')
	if i < 0 {
		return session, false
	}
	value := ck.Value[:i]
	sig, err := base64.RawURLEncoding.DecodeString(ck.Value[i+1:])
	if err != nil || !hmac.Equal(sig, st.mac(value)) {
		return session, false
	}
	j := strings.LastIndexByte(value, '.')
	if j < 0 {
		return session, false
	}
	tsb, err := base64.RawURLEncoding.DecodeString(value[j+1:])
	if err != nil || len(tsb) > 8 {
		return session, false
	}
	var ts uint64
	for _, b := range tsb {
		ts = ts<<8 | uint64(b)
	}
	age := now.Sub(time.Unix(int64(ts), 0))
	if age < 0 || age > khojSessionAge {
		return session, false
	}
	data, err := base64.StdEncoding.DecodeString(value[:j])
	if err != nil || json.Unmarshal(data, &session) != nil || session == nil {
		return map[string]any{}, false
	}
	return session, true
}

// allow records an attempt for a rate limit unless limit attempts were
// already recorded in the window, as Khoj's limiters do.
func (st *khojState) allow(slug, id string, limit int, now time.Time) bool {
	key := slug + "\x00" + id
	cutoff := now.Add(-khojLimitWindow)
	var kept []time.Time
	for _, t := range st.attempts[key] {
		if !t.Before(cutoff) {
			kept = append(kept, t)
		}
	}
	if len(kept) >= limit {
		st.attempts[key] = kept
		return false
	}
	st.attempts[key] = append(kept, now)
	return true
}

func (st *khojState) userInfo(c *khojCtx) khojResp {
	if c.user == nil {
		return khojDetail(http.StatusForbidden, "Forbidden")
	}
	return khojJSONResp(http.StatusOK, struct {
		Email        string  `json:"email"`
		Username     string  `json:"username"`
		Photo        *string `json:"photo"`
		IsActive     bool    `json:"is_active"`
		HasDocuments bool    `json:"has_documents"`
		KhojVersion  string  `json:"khoj_version"`
	}{c.user.email, c.user.username, nil, true, false, khojVersion})
}

func (st *khojState) oauthMetadata(c *khojCtx) khojResp {
	var id *string
	if st.clientID != "" {
		id = &st.clientID
	}
	type google struct {
		ClientID    *string `json:"client_id"`
		RedirectURI string  `json:"redirect_uri"`
	}
	return khojJSONResp(http.StatusOK, struct {
		Google google `json:"google"`
	}{google{id, khojRedirectPath}})
}

func (st *khojState) googleLogin(c *khojCtx) khojResp {
	state := randBase64URL(22)
	nonce := randBase64URL(15)
	params := []khojPair{{"response_type", "code"}}
	if st.clientID != "" {
		params = append(params, khojPair{"client_id", st.clientID})
	}
	params = append(params,
		khojPair{"redirect_uri", khojRedirectPath},
		khojPair{"scope", "openid email profile"},
		khojPair{"state", state},
		khojPair{"nonce", nonce})
	var q []string
	for _, p := range params {
		q = append(q, url.QueryEscape(p.key)+"="+url.QueryEscape(p.value))
	}
	loc := khojGoogleAuth + "?" + strings.Join(q, "&")
	c.session["_state_google_"+state] = map[string]any{
		"data": map[string]any{"redirect_uri": khojRedirectPath, "nonce": nonce, "url": loc},
		"exp":  c.now.Unix() + 3600,
	}
	return khojRedirect(http.StatusFound, loc)
}

func (st *khojState) googleRedirectGet(c *khojCtx) khojResp {
	// The code exchange with Google fails (raise_for_status), unhandled.
	return khojServerError()
}

func (st *khojState) googleRedirectPost(c *khojCtx) khojResp {
	form := khojParseForm(c.r, c.body)
	next := st.nextURL(c)
	seen := map[string]bool{}
	for _, p := range c.query {
		if p.key != "next" && !seen[p.key] {
			seen[p.key] = true
			v, _ := c.q(p.key)
			next += "&" + p.key + "=" + v
		}
	}
	cookie, err := c.r.Cookie("g_csrf_token")
	if err != nil || cookie.Value == "" || form["g_csrf_token"] == "" {
		return khojRedirect(http.StatusTemporaryRedirect, khojQuoteURL(next))
	}
	if cookie.Value != form["g_csrf_token"] {
		return khojText(http.StatusBadRequest, "", "Invalid CSRF token")
	}
	// id_token.verify_oauth2_token raises on anything the fake can offer.
	return khojServerError()
}

func (st *khojState) logout(c *khojCtx) khojResp {
	delete(c.session, "user")
	return khojRedirect(http.StatusTemporaryRedirect, st.prefix+"/")
}

func (st *khojState) magicPost(c *khojCtx) khojResp {
	value, present, bad := khojParseJSONBody(c.r, c.body)
	if bad != nil {
		return *bad
	}
	email, errs := khojValidateMagicForm(value, present)
	if errs != nil {
		// The EmailAttemptRateLimiter dependency validates the same body, so
		// FastAPI reports every error twice.
		return khojValidation(append(errs, errs...)...)
	}
	if !st.debug && !st.allow("magic_link_login_by_email", email, 20, c.now) {
		return khojDetail(http.StatusTooManyRequests, "Too many requests for your email address. Please wait before trying again.")
	}
	if c.user != nil {
		delete(c.session, "user")
	}
	email = strings.ToLower(email)
	u := st.users[email]
	if u == nil {
		if khojUndeliverable(email) {
			return khojDetail(http.StatusNotFound, "Invalid email address. Please fix before trying again.")
		}
		u = st.addUser(email)
	}
	u.code = khojRandomCode()
	u.expiry = c.now.Add(khojCodeLifetime)
	if !st.debug && !st.allow("magic_link_login_by_user", u.email, 10, c.now) {
		return khojDetail(http.StatusTooManyRequests, "Ran out of login attempts. Please wait before trying again.")
	}
	u.mailed = u.code
	return khojText(http.StatusOK, "", "")
}

func (st *khojState) magicGet(c *khojCtx) khojResp {
	email, hasEmail := c.q("email")
	if !st.debug {
		// EmailVerificationApiRateLimiter runs before the endpoint's own
		// parameters are validated, and looks the email up as given.
		var u *khojUser
		if hasEmail {
			u = st.users[email]
		}
		if u == nil {
			return khojDetail(http.StatusNotFound, "User not found.")
		}
		if !st.allow("magic_link_verification", u.email, 10, c.now) {
			return khojDetail(http.StatusTooManyRequests, "Ran out of login attempts. Please wait before trying again.")
		}
	}
	code, hasCode := c.q("code")
	var errs []khojValErr
	if !hasCode {
		errs = append(errs, khojMissing("query", "code"))
	}
	if !hasEmail {
		errs = append(errs, khojMissing("query", "email"))
	}
	if errs != nil {
		return khojValidation(errs...)
	}
	u := st.users[strings.ToLower(strings.TrimSpace(email))]
	if u == nil || u.code == "" || u.code != code {
		return khojText(http.StatusUnauthorized, "", "")
	}
	if u.expiry.Before(c.now) {
		c.session["user"] = map[string]any{}
		return khojText(http.StatusForbidden, "", "")
	}
	u.code = ""
	c.session["user"] = map[string]any{"email": u.email}
	return khojRedirect(http.StatusTemporaryRedirect, st.prefix+"/")
}

// khojValidateMagicForm validates MagicLinkForm{email: EmailStr} and
// returns the normalised address.
func khojValidateMagicForm(value any, present bool) (string, []khojValErr) {
	if !present {
		return "", []khojValErr{khojMissing("body")}
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return "", []khojValErr{{Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from", Input: value}}
	}
	raw, ok := obj["email"]
	if !ok {
		e := khojMissing("body", "email")
		e.Input = obj
		return "", []khojValErr{e}
	}
	s, ok := raw.(string)
	if !ok {
		return "", []khojValErr{{Type: "string_type", Loc: []any{"body", "email"},
			Msg: "Input should be a valid string", Input: raw}}
	}
	email, reason := khojCheckEmail(s)
	if reason != "" {
		return "", []khojValErr{{Type: "value_error", Loc: []any{"body", "email"},
			Msg: "value is not a valid email address: " + reason, Input: s,
			Ctx: map[string]any{"reason": reason}}}
	}
	return email, nil
}

var khojPrettyEmail = regexp.MustCompile(`^ *([\pL\pN_ ]*?) *<(.+?)> *$`)

// khojCheckEmail is pydantic's validate_email with the syntax checks of
// email-validator that matter in practice. It returns the normalised
// address (domain lower-cased) or the reason it is invalid. Special-use
// domains are not rejected: the fake uses invalid.test for Khoj's own 404.
func khojCheckEmail(s string) (email, reason string) {
	if utf8.RuneCountInString(s) > 2048 {
		return "", "Length must not exceed 2048 characters"
	}
	if m := khojPrettyEmail.FindStringSubmatch(s); m != nil {
		s = m[2]
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", "An email address must have an @-sign."
	}
	local, domain := s[:at], s[at+1:]
	if local == "" {
		return "", "There must be something before the @-sign."
	}
	if domain == "" {
		return "", "There must be something after the @-sign."
	}
	if n := utf8.RuneCountInString(local); n > 64 {
		return "", fmt.Sprintf("The email address is too long before the @-sign (%d %s too many).", n-64, khojPlural(n-64))
	}
	if bad := khojBadChars(local, func(r rune) bool {
		return r >= 0x80 && unicode.IsPrint(r) || r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r))
	}); bad != "" {
		return "", "The email address contains invalid characters before the @-sign: " + bad + "."
	}
	switch {
	case strings.HasPrefix(local, "."):
		return "", "An email address cannot start with a period."
	case strings.HasSuffix(local, "."):
		return "", "An email address cannot have a period immediately before the @-sign."
	case strings.Contains(local, ".."):
		return "", "An email address cannot have two periods in a row."
	}
	if bad := khojBadChars(domain, func(r rune) bool {
		return r >= 0x80 && unicode.IsPrint(r) || r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			r >= '0' && r <= '9' || r == '-' || r == '.')
	}); bad != "" {
		return "", "The part after the @-sign contains invalid characters: " + bad + "."
	}
	switch {
	case strings.HasPrefix(domain, "."):
		return "", "An email address cannot have a period immediately after the @-sign."
	case strings.HasPrefix(domain, "-"):
		return "", "An email address cannot have a hyphen immediately after the @-sign."
	case strings.HasSuffix(domain, "."):
		return "", "An email address cannot end with a period."
	case strings.HasSuffix(domain, "-"):
		return "", "An email address cannot end with a hyphen."
	case strings.Contains(domain, ".."):
		return "", "An email address cannot have two periods in a row."
	case strings.Contains(domain, ".-") || strings.Contains(domain, "-."):
		return "", "An email address cannot have a period and a hyphen next to each other."
	case !strings.Contains(domain, "."):
		return "", "The part after the @-sign is not valid. It should have a period."
	case len(domain) > 253:
		return "", "The email address is too long after the @-sign."
	}
	return local + "@" + strings.ToLower(domain), ""
}

// khojBadChars lists the characters of s that ok rejects, sorted and
// displayed like email-validator does ('x', SPACE, U+0009).
func khojBadChars(s string, ok func(rune) bool) string {
	seen := map[rune]bool{}
	var bad []rune
	for _, r := range s {
		if !ok(r) && !seen[r] {
			seen[r] = true
			bad = append(bad, r)
		}
	}
	if bad == nil {
		return ""
	}
	for i := 1; i < len(bad); i++ {
		for j := i; j > 0 && bad[j] < bad[j-1]; j-- {
			bad[j], bad[j-1] = bad[j-1], bad[j]
		}
	}
	out := make([]string, len(bad))
	for i, r := range bad {
		switch {
		case r == ' ':
			out[i] = "SPACE"
		case unicode.IsPrint(r):
			out[i] = "'" + string(r) + "'"
		default:
			out[i] = fmt.Sprintf("U+%04X", r)
		}
	}
	return strings.Join(out, ", ")
}

func khojPlural(n int) string {
	if n == 1 {
		return "character"
	}
	return "characters"
}

// khojUndeliverable reports whether Khoj would refuse to create a user with
// this address; the fake refuses the domain invalid.test (and subdomains).
func khojUndeliverable(email string) bool {
	domain := email[strings.LastIndexByte(email, '@')+1:]
	return domain == "invalid.test" || strings.HasSuffix(domain, ".invalid.test")
}

// khojRandomCode is f"{secrets.randbelow(int(1e6)):06}".
func khojRandomCode() string {
	return fmt.Sprintf("%06d", randIntn(1_000_000))
}
