package authtest

// Helpers of the Audiobookshelf fake: HS256 JWTs, ids, cookies and the
// Express-style responses (status-only bodies, ETags, the finalhandler HTML
// error page).

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// absClaims is the payload of every token the fake signs. Field order and
// omitempty give exactly the claim sets of the real server:
// access/refresh {userId, username, jti, type, iat, exp}, API key
// {keyId, name, type, iat[, exp]}, legacy {userId, username, iat}.
type absClaims struct {
	UserID   string   `json:"userId,omitempty"`
	Username string   `json:"username,omitempty"`
	KeyID    string   `json:"keyId,omitempty"`
	Name     string   `json:"name,omitempty"`
	JTI      string   `json:"jti,omitempty"`
	Type     string   `json:"type,omitempty"`
	Iat      int64    `json:"iat"`
	Exp      *float64 `json:"exp,omitempty"`
}

// absJWTHeader is the header jsonwebtoken writes for HS256.
var absJWTHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// absSign returns an HS256 JWT of payload (any JSON-encodable value).
func absSign(secret []byte, payload any) string {
	b, _ := absMarshal(payload)
	signing := absJWTHeader + "." + base64.RawURLEncoding.EncodeToString(b)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// absVerify checks an HS256 JWT and returns its payload. It does not look at
// exp: callers apply the rule of the code path they model.
func absVerify(secret []byte, token string) (map[string]any, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, false
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "HS256" {
		return nil, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, false
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var claims map[string]any
	if json.Unmarshal(pb, &claims) != nil || claims == nil {
		return nil, false
	}
	if v, ok := claims["exp"]; ok {
		if _, isNum := v.(float64); !isNum {
			return nil, false // jsonwebtoken: "invalid exp value"
		}
	}
	return claims, true
}

// absClaimString reads a string claim ("" when absent or not a string).
func absClaimString(c map[string]any, k string) string {
	s, _ := c[k].(string)
	return s
}

// absClaimExp reads the exp claim.
func absClaimExp(c map[string]any) (float64, bool) {
	f, ok := c["exp"].(float64)
	return f, ok
}

// absS256 is the PKCE S256 transform: base64url(sha256(verifier)).
func absS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var absUUIDRe = regexp.MustCompile(`^(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// absISO formats t like JavaScript's Date.toISOString.
func absISO(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// absMarshal encodes v like JSON.stringify: no HTML escaping, no newline.
func absMarshal(v any) ([]byte, error) { return marshalCompact(v) }

// absTruthy applies JavaScript truthiness to a decoded JSON value.
func absTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0 && !math.IsNaN(x)
	case string:
		return x != ""
	default:
		return true
	}
}

// absEncodeURIComponent mirrors JavaScript's encodeURIComponent.
func absEncodeURIComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// absCookieValue reads a cookie like cookie-parser does (URI-decoded).
func absCookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	if v, err := url.PathUnescape(c.Value); err == nil {
		return v
	}
	return c.Value
}

// absCookieOpts are the res.cookie options the fake uses.
type absCookieOpts struct {
	maxAge   time.Duration // 0: session cookie
	httpOnly bool
	secure   bool
	sameSite string
}

// absSetCookie formats a Set-Cookie value the way Express's res.cookie does
// (attribute order of the npm "cookie" serializer).
func absSetCookie(name, value string, o absCookieOpts, now time.Time) string {
	s := name + "=" + absEncodeURIComponent(value)
	if o.maxAge > 0 {
		s += "; Max-Age=" + strconv.FormatInt(int64(o.maxAge/time.Second), 10) + "; Path=/; Expires=" +
			now.Add(o.maxAge).UTC().Format(http.TimeFormat)
	} else {
		s += "; Path=/"
	}
	if o.httpOnly {
		s += "; HttpOnly"
	}
	if o.secure {
		s += "; Secure"
	}
	if o.sameSite != "" {
		s += "; SameSite=" + o.sameSite
	}
	return s
}

// absClearCookie formats res.clearCookie(name, {path: "/"}).
func absClearCookie(name string) string {
	return name + "=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
}

// absResp is a response computed under the fake's lock and written after.
type absResp struct {
	status      int
	contentType string // "" sends no Content-Type at all
	body        []byte
	etag        bool // Express res.send adds a weak ETag
	header      http.Header
}

// addCookie appends a Set-Cookie header.
func (resp *absResp) addCookie(v string) *absResp {
	if resp.header == nil {
		resp.header = http.Header{}
	}
	resp.header.Add("Set-Cookie", v)
	return resp
}

// setHeader sets a header.
func (resp *absResp) setHeader(k, v string) *absResp {
	if resp.header == nil {
		resp.header = http.Header{}
	}
	resp.header.Set(k, v)
	return resp
}

// write sends resp with the headers every Audiobookshelf response carries.
func (resp *absResp) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "frame-ancestors 'self'")
	h.Set("Referrer-Policy", "no-referrer")
	for k, v := range resp.header {
		if k == "Set-Cookie" {
			h[k] = append(h[k], v...)
		} else {
			h[k] = v
		}
	}
	if resp.contentType == "" {
		h["Content-Type"] = nil
	} else {
		h.Set("Content-Type", resp.contentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	if resp.etag {
		h.Set("ETag", absETag(resp.body))
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// absETag is Express's default weak ETag (npm "etag" for a body).
func absETag(body []byte) string {
	sum := sha1.Sum(body)
	return `W/"` + strconv.FormatInt(int64(len(body)), 16) + "-" +
		base64.StdEncoding.EncodeToString(sum[:])[:27] + `"`
}

const (
	absCTJSON  = "application/json; charset=utf-8"
	absCTPlain = "text/plain; charset=utf-8"
	absCTHTML  = "text/html; charset=utf-8"
)

// absJSON is res.status(status).json(v).
func absJSON(status int, v any) *absResp {
	b, err := absMarshal(v)
	if err != nil {
		return absExpressError(http.StatusInternalServerError, "Internal Server Error")
	}
	return &absResp{status: status, contentType: absCTJSON, body: b, etag: true}
}

// absStatus is res.sendStatus(status): the reason phrase as text/plain.
func absStatus(status int) *absResp {
	return &absResp{status: status, contentType: absCTPlain, body: []byte(http.StatusText(status)), etag: true}
}

// absSendText is res.status(status).send(string): text/html, as Express
// labels every string body.
func absSendText(status int, msg string) *absResp {
	return &absResp{status: status, contentType: absCTHTML, body: []byte(msg), etag: true}
}

// absBare is a passport failure: the reason phrase with no Content-Type.
func absBare(status int) *absResp {
	return &absResp{status: status, body: []byte(http.StatusText(status))}
}

// absExpressError is Express's finalhandler error page (production mode).
func absExpressError(status int, msg string) *absResp {
	body := "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>" +
		html.EscapeString(msg) + "</pre>\n</body>\n</html>\n"
	resp := &absResp{status: status, contentType: absCTHTML, body: []byte(body)}
	resp.setHeader("Content-Security-Policy", "default-src 'none'")
	resp.setHeader("X-Content-Type-Options", "nosniff")
	return resp
}

// absRedirect is res.redirect(location) (302).
func absRedirect(r *http.Request, location string) *absResp {
	resp := &absResp{status: http.StatusFound}
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "text/html") && !strings.Contains(accept, "text/plain") {
		u := html.EscapeString(location)
		resp.contentType = absCTHTML
		resp.body = []byte("<p>Found. Redirecting to <a href=\"" + u + "\">" + u + "</a></p>")
	} else {
		resp.contentType = absCTPlain
		resp.body = []byte("Found. Redirecting to " + location)
	}
	return resp.setHeader("Location", location)
}

// absOriginalPath is the path the client sent (Express's req.originalUrl
// path), used in the "Cannot GET /path" page.
func absOriginalPath(r *http.Request) string {
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		return u.EscapedPath()
	}
	return r.URL.EscapedPath()
}

// absOrigin is protocol://host of the request, as the server sees it.
func absOrigin(r *http.Request) string {
	proto := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		proto = "https"
	}
	return proto + "://" + r.Host
}

// absIsSecure is requestUtils.isRequestSecure.
func absIsSecure(r *http.Request) bool {
	return r.TLS != nil || strings.Contains(strings.ToLower(r.Header.Get("X-Forwarded-Proto")), "https")
}

// absClientIP follows the order of the requestIp library the real server
// uses: client-controlled headers first, then the socket address.
func absClientIP(r *http.Request) string {
	for _, h := range []string{"X-Client-Ip", "X-Forwarded-For", "Cf-Connecting-Ip", "Fastly-Client-Ip",
		"True-Client-Ip", "X-Real-Ip", "X-Cluster-Client-Ip"} {
		for _, v := range strings.Split(r.Header.Get(h), ",") {
			v = strings.TrimSpace(v)
			if host, _, err := net.SplitHostPort(v); err == nil && strings.Contains(v, ".") {
				v = host // "1.2.3.4:5678"
			}
			if net.ParseIP(v) != nil {
				return v
			}
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// absMaxBody is express.json's limit in the real server.
const absMaxBody = 10 << 20

// absParseBody runs the body parsers (express.json and urlencoded). It
// returns the body as an object (nil when absent or not an object) or the
// response of a parser error.
func absParseBody(r *http.Request) (map[string]any, *absResp) {
	if r.Body == nil {
		return nil, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "application/x-www-form-urlencoded" {
		return nil, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, absMaxBody+1))
	if err != nil {
		return nil, absExpressError(http.StatusBadRequest, "Bad Request")
	}
	if len(raw) > absMaxBody {
		return nil, absExpressError(http.StatusRequestEntityTooLarge, "Payload Too Large")
	}
	if mt == "application/x-www-form-urlencoded" {
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, absExpressError(http.StatusBadRequest, "Bad Request")
		}
		m := map[string]any{}
		for k, v := range vals {
			if len(v) > 0 {
				m[k] = v[0]
			}
		}
		return m, nil
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return map[string]any{}, nil
	}
	if trimmed[0] != '{' && trimmed[0] != '[' { // strict mode
		return nil, absExpressError(http.StatusBadRequest, "Bad Request")
	}
	var v any
	if err := json.Unmarshal(trimmed, &v); err != nil {
		return nil, absExpressError(http.StatusBadRequest, "Bad Request")
	}
	m, _ := v.(map[string]any)
	return m, nil
}
