package authtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"strconv"
	"strings"
)

// This file holds the wire helpers shared by the four fakes: the router over
// method and path patterns, the response writers and the random identifiers.
// What differs between the servers (case folding, the answer to an unknown
// path or method, the identifier formats) is a parameter, not a branch.

// router maps method and path patterns to handlers of type H. A pattern is a
// path relative to the fake's prefix whose segments are either literal or a
// parameter (":name"). Routes are tried in the order they were added, as
// Express, Starlette and aiohttp do.
type router[H any] struct {
	// fold matches literal segments case-insensitively (Express).
	fold bool
	// param reports whether a path segment may be the value of a parameter.
	// nil accepts any non-empty segment.
	param func(string) bool

	routes []wireRoute[H]
}

type wireRoute[H any] struct {
	method string
	segs   []string
	h      H
}

// wireMatch is the outcome of [router.lookup].
type wireMatch[H any] struct {
	// found reports a route for both the method and the path; h is its
	// handler and params the values of its parameters, in order.
	found  bool
	h      H
	params []string
	// allowed lists, when found is false, the methods of the routes on the
	// path in the order they were added (empty: no route has the path);
	// first is the handler of the first of those routes.
	allowed []string
	first   H
}

// handle adds a route for method and pattern.
func (rt *router[H]) handle(method, pattern string, h H) {
	rt.routes = append(rt.routes, wireRoute[H]{method: method, segs: strings.Split(pattern, "/"), h: h})
}

// lookup finds the first route matching method and path. A HEAD request is
// served by a GET route, as every one of the servers does.
func (rt *router[H]) lookup(method, path string) wireMatch[H] {
	segs := strings.Split(path, "/")
	var m wireMatch[H]
	for _, r := range rt.routes {
		params, ok := rt.matchSegs(r.segs, segs)
		if !ok {
			continue
		}
		if r.method == method || (method == http.MethodHead && r.method == http.MethodGet) {
			return wireMatch[H]{found: true, h: r.h, params: params}
		}
		if len(m.allowed) == 0 {
			m.first = r.h
		}
		m.allowed = append(m.allowed, r.method)
	}
	return m
}

// has reports whether some route, of any method, matches path.
func (rt *router[H]) has(path string) bool {
	segs := strings.Split(path, "/")
	for _, r := range rt.routes {
		if _, ok := rt.matchSegs(r.segs, segs); ok {
			return true
		}
	}
	return false
}

func (rt *router[H]) matchSegs(pattern, segs []string) ([]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var params []string
	for i, p := range pattern {
		switch {
		case strings.HasPrefix(p, ":"):
			if segs[i] == "" || rt.param != nil && !rt.param(segs[i]) {
				return nil, false
			}
			params = append(params, segs[i])
		case rt.fold && !strings.EqualFold(p, segs[i]), !rt.fold && p != segs[i]:
			return nil, false
		}
	}
	return params, true
}

// stripPrefix returns path relative to prefix ("/" for the prefix itself)
// and whether path lies under it. An empty prefix contains every path.
func stripPrefix(path, prefix string) (string, bool) {
	if prefix == "" {
		return path, true
	}
	if path != prefix && !strings.HasPrefix(path, prefix+"/") {
		return path, false
	}
	if path = path[len(prefix):]; path == "" {
		path = "/"
	}
	return path, true
}

// marshalCompact encodes v as the fakes' servers do (Node's JSON.stringify,
// Python's json.dumps with compact separators, FastAPI): no HTML escaping
// and no trailing newline.
func marshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// writeJSON answers with status and v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONType(w, status, "application/json", v)
}

// writeJSONType answers with status and v encoded as JSON, with the given
// Content-Type.
func writeJSONType(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeText(w, status, contentType, string(b))
}

// writeText answers with status and body as text. An empty contentType sends
// no Content-Type header at all (Go would otherwise sniff one).
func writeText(w http.ResponseWriter, status int, contentType, body string) {
	if contentType == "" {
		w.Header()["Content-Type"] = nil
	} else {
		w.Header().Set("Content-Type", contentType)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// randBytes returns n bytes from crypto/rand.
func randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("authtest: crypto/rand: " + err.Error())
	}
	return b
}

// randHex returns n random bytes in lowercase hex.
func randHex(n int) string { return hex.EncodeToString(randBytes(n)) }

// randBase64URL returns n random bytes in unpadded base64url, like Python's
// secrets.token_urlsafe(n) and Node's randomBytes(n).toString("base64url").
func randBase64URL(n int) string { return base64.RawURLEncoding.EncodeToString(randBytes(n)) }

// randIntn returns a uniform random int in [0, n).
func randIntn(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic("authtest: crypto/rand: " + err.Error())
	}
	return int(v.Int64())
}

// uuid4 returns a random version-4 UUID in its canonical lowercase form, as
// Python's str(uuid.uuid4()), Node's crypto.randomUUID() and Java's
// UUID.randomUUID().toString() print it.
func uuid4() string {
	b := randBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

const (
	tsidEpoch     = 1577836800000 // 2020-01-01T00:00:00Z in Unix milliseconds
	tsidCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)

// tsid returns a TSID (the hypersistence-tsid format Komga uses): 42 bits of
// milliseconds since 2020 and 22 random bits, as 13 Crockford base32
// characters. *last holds the previous value; the new one is strictly
// greater, so ids made in the same millisecond still sort in order.
func tsid(unixMilli int64, last *uint64) string {
	ms := unixMilli - tsidEpoch
	if ms < 0 {
		ms = 0
	}
	v := uint64(ms)<<22 | uint64(binary.BigEndian.Uint32(randBytes(4))&0x3FFFFF)
	if v <= *last {
		v = *last + 1
	}
	*last = v
	var out [13]byte
	for i := 12; i >= 0; i-- {
		out[i] = tsidCrockford[v&31]
		v >>= 5
	}
	return string(out[:])
}
