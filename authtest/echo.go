package authtest

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// EchoPlace is where an [EchoProxy] puts the request it echoes.
type EchoPlace int

// The places a careless server or proxy echoes a request in.
const (
	EchoJSONMessage         EchoPlace = iota // {"message": "…"} (Spring Boot)
	EchoJSONError                            // {"error": "…"} (Express)
	EchoJSONDetail                           // {"detail": "…"} (FastAPI)
	EchoJSONViolations                       // {"violations": [{"fieldName", "message": "…"}]}
	EchoJSONErrorType                        // {"error": {"type": "…", "message": "…"}}: the code too
	EchoPlainText                            // text/plain
	EchoHTMLPre                              // an HTML page with <pre>…</pre>
	EchoHTMLTitle                            // an HTML page with <title>…</title>
	EchoHTMLH1                               // an HTML page with <h1>…</h1>
	EchoLocationPath                         // a redirect to a relative URL with it in the path
	EchoLocationQuery                        // a redirect to a relative URL with it in the query
	EchoLocationFragment                     // a redirect to a relative URL with it in the fragment
	EchoLocationOtherOrigin                  // a redirect to another origin with it in path and query
	EchoLocationUserinfo                     // a redirect to another origin with it as the userinfo password
)

// EchoPlaces lists every [EchoPlace].
var EchoPlaces = []EchoPlace{
	EchoJSONMessage, EchoJSONError, EchoJSONDetail, EchoJSONViolations, EchoJSONErrorType,
	EchoPlainText, EchoHTMLPre, EchoHTMLTitle, EchoHTMLH1,
	EchoLocationPath, EchoLocationQuery, EchoLocationFragment, EchoLocationOtherOrigin, EchoLocationUserinfo,
}

// String names the place.
func (p EchoPlace) String() string {
	names := []string{"JSONMessage", "JSONError", "JSONDetail", "JSONViolations", "JSONErrorType",
		"PlainText", "HTMLPre", "HTMLTitle", "HTMLH1",
		"LocationPath", "LocationQuery", "LocationFragment", "LocationOtherOrigin", "LocationUserinfo"}
	if int(p) >= 0 && int(p) < len(names) {
		return names[p]
	}
	return "EchoPlace(" + strconv.Itoa(int(p)) + ")"
}

// EchoTransform is what an [EchoProxy] does to the echoed text before it
// puts it in place.
type EchoTransform int

// The transformations an echo may apply.
const (
	EchoRaw          EchoTransform = iota // as it is
	EchoHTMLEscaped                       // html.EscapeString
	EchoHTMLNumeric                       // every character but letters and digits as &#NN;
	EchoJSONEscaped                       // JSON string escapes, without the quotes (Go's \u003c forms)
	EchoQueryEscaped                      // url.QueryEscape
	EchoPathEscaped                       // url.PathEscape
	EchoLowerPercent                      // url.QueryEscape with lower-case hex
	EchoReflowed                          // every space as a line break and a tab, as a text reflow
	EchoFolded                            // runs of white space folded to one space
)

// EchoTransforms lists every [EchoTransform].
var EchoTransforms = []EchoTransform{
	EchoRaw, EchoHTMLEscaped, EchoHTMLNumeric, EchoJSONEscaped, EchoQueryEscaped,
	EchoPathEscaped, EchoLowerPercent, EchoReflowed, EchoFolded,
}

// String names the transformation.
func (t EchoTransform) String() string {
	names := []string{"Raw", "HTMLEscaped", "HTMLNumeric", "JSONEscaped", "QueryEscaped",
		"PathEscaped", "LowerPercent", "Reflowed", "Folded"}
	if int(t) >= 0 && int(t) < len(names) {
		return names[t]
	}
	return "EchoTransform(" + strconv.Itoa(int(t)) + ")"
}

// Apply transforms s.
func (t EchoTransform) Apply(s string) string {
	switch t {
	case EchoHTMLEscaped:
		return html.EscapeString(s)
	case EchoHTMLNumeric:
		var b strings.Builder
		for _, r := range s {
			if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				b.WriteRune(r)
				continue
			}
			b.WriteString("&#" + strconv.Itoa(int(r)) + ";")
		}
		return b.String()
	case EchoJSONEscaped:
		q, _ := json.Marshal(s)
		return string(q[1 : len(q)-1])
	case EchoQueryEscaped:
		return url.QueryEscape(s)
	case EchoPathEscaped:
		return url.PathEscape(s)
	case EchoLowerPercent:
		e := url.QueryEscape(s)
		var b strings.Builder
		for i := 0; i < len(e); i++ {
			if e[i] == '%' && i+2 < len(e) {
				b.WriteString("%" + strings.ToLower(e[i+1:i+3]))
				i += 2
				continue
			}
			b.WriteByte(e[i])
		}
		return b.String()
	case EchoReflowed:
		return strings.ReplaceAll(s, " ", "\n\t")
	case EchoFolded:
		return strings.Join(strings.Fields(s), " ")
	}
	return s
}

// EchoProxy is a careless reverse proxy in front of a fake: for the paths
// told to echo, it answers itself with the whole request (every header
// line, the query string and the body) written back, as debugging proxies
// and some error pages do; every other request goes to the fake. Tests use
// it to check that a client masks every credential it sends, in whatever
// form it comes back.
type EchoProxy struct {
	*Server

	mu     sync.Mutex
	rules  map[string]echoRule
	echoed []EchoedRequest
}

// EchoedRequest is a request the proxy answered with an echo.
type EchoedRequest struct {
	Method string
	URL    *url.URL
	Header http.Header
	Body   []byte
}

type echoRule struct {
	status int
	place  EchoPlace
	tr     EchoTransform
}

// NewEchoProxy starts a proxy in front of upstream. Its URL has the
// upstream's path prefix, so a client pointed at it sees the same paths.
func NewEchoProxy(upstream *Server, opts ...Option) *EchoProxy {
	target, _ := url.Parse(upstream.HTTP.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &EchoProxy{rules: map[string]echoRule{}}
	cfg := newConfig(opts)
	cfg.prefix = ""
	prefix := upstream.prefix
	p.Server = start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel, _ := stripPrefix(r.URL.Path, prefix)
		p.mu.Lock()
		rule, ok := p.rules[rel]
		if !ok {
			rule, ok = p.rules[""]
		}
		p.mu.Unlock()
		if !ok {
			rp.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxEchoBody))
		u := *r.URL
		p.mu.Lock()
		p.echoed = append(p.echoed, EchoedRequest{Method: r.Method, URL: &u, Header: r.Header.Clone(), Body: body})
		p.mu.Unlock()
		writeEcho(w, r, rule, body)
	}), cfg, prefixStrict)
	p.URL = p.HTTP.URL + prefix + "/"
	return p
}

// EchoOn makes the proxy answer requests for path (relative to the prefix,
// starting with "/"; "" for every path not named) with status and the
// request echoed in place, transformed by t. A status of 0 means 400 for
// the body places and 307 for the redirects.
func (p *EchoProxy) EchoOn(path string, status int, place EchoPlace, t EchoTransform) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules[path] = echoRule{status: status, place: place, tr: t}
}

// Echoed returns the requests the proxy has answered with an echo, oldest
// first, and forgets them.
func (p *EchoProxy) Echoed() []EchoedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.echoed
	p.echoed = nil
	return out
}

// Forward makes the proxy pass every request to the fake again.
func (p *EchoProxy) Forward() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.rules)
}

// maxEchoBody bounds the request body echoed.
const maxEchoBody = 4 << 10

// echoText is the request as one line: "METHOD path?query; Name: value;
// …; body".
func echoText(r *http.Request, body []byte) string {
	var b strings.Builder
	b.WriteString(r.Method + " " + r.URL.RequestURI())
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			b.WriteString("; " + k + ": " + v)
		}
	}
	if len(bytes.TrimSpace(body)) > 0 {
		b.WriteString("; ")
		b.Write(body)
	}
	return b.String()
}

func writeEcho(w http.ResponseWriter, r *http.Request, rule echoRule, body []byte) {
	text := rule.tr.Apply(echoText(r, body))
	status := rule.status
	if status == 0 {
		status = http.StatusBadRequest
		if rule.place >= EchoLocationPath {
			status = http.StatusTemporaryRedirect
		}
	}
	switch rule.place {
	case EchoJSONMessage:
		writeJSON(w, status, map[string]any{"status": status, "error": "Bad Request", "message": text})
	case EchoJSONError:
		writeJSON(w, status, map[string]any{"error": text})
	case EchoJSONDetail:
		writeJSON(w, status, map[string]any{"detail": text})
	case EchoJSONViolations:
		writeJSON(w, status, map[string]any{"violations": []map[string]string{{"fieldName": "request", "message": text}}})
	case EchoJSONErrorType:
		writeJSON(w, status, map[string]any{"error": map[string]string{"type": text, "message": text}})
	case EchoPlainText:
		writeText(w, status, "text/plain; charset=utf-8", text)
	case EchoHTMLPre:
		writeText(w, status, "text/html; charset=utf-8", "<!DOCTYPE html><html><body><pre>"+text+"</pre></body></html>")
	case EchoHTMLTitle:
		writeText(w, status, "text/html; charset=utf-8", "<html><head><title>"+text+"</title></head><body></body></html>")
	case EchoHTMLH1:
		writeText(w, status, "text/html; charset=utf-8", "<html><body><h1>"+text+"</h1></body></html>")
	default:
		w.Header().Set("Location", echoLocation(rule.place, text))
		w.WriteHeader(status)
	}
}

// echoLocation builds a Location header carrying text; the text is
// escaped as much as a header line needs (no CR, LF or spaces).
func echoLocation(place EchoPlace, text string) string {
	switch place {
	case EchoLocationPath:
		return "elsewhere/" + url.PathEscape(text)
	case EchoLocationQuery:
		return "elsewhere?q=" + url.QueryEscape(text)
	case EchoLocationFragment:
		return "elsewhere#" + url.QueryEscape(text)
	case EchoLocationUserinfo:
		return (&url.URL{Scheme: "http", Host: "echo.invalid", User: url.UserPassword("u", text), Path: "/"}).String()
	}
	return "http://echo.invalid/" + url.PathEscape(text) + "?q=" + url.QueryEscape(text)
}
