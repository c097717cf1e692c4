package authtest

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// ComfyUI is a fake ComfyUI server: the v0.3.64 HTTP API served by aiohttp,
// as built from the branch of Comfy-Org/ComfyUI PR #11263 ("Feature/api auth
// and health"), which adds an API-key middleware and GET /health.
//
// # The API-key patch
//
// Started with a key ([NewComfyUI] with a non-empty apiKey) the fake runs the
// patch's middleware before routing, on every path:
//
//   - Exempt, whatever key is or is not sent: the exact paths /health, /ws
//     and /; any decoded path that ends (case-sensitively) in .html .js .css
//     .json .map .png .jpg .jpeg .gif .svg .ico .woff .woff2 .ttf .eot .webp,
//     for any method (so /api/userdata/workflows%2Fx.json passes without a
//     key); and any path starting with /extensions/, /templates/ or /docs/.
//     .mp3 .wav .mp4 .webm are not exempt, although the patch's guide says
//     so. /api/health and /api/ws are not exempt.
//   - One candidate key is taken, first hit wins, no fallback: an
//     Authorization value starting with exactly "Bearer " (the rest, not
//     trimmed), else a non-empty X-API-Key header, else a non-empty api_key
//     query parameter. A wrong Bearer fails even next to a correct X-API-Key;
//     "bearer KEY" or "Basic …" is ignored and X-API-Key is used; "Bearer "
//     alone and "Bearer  KEY" (two spaces) fail.
//   - A missing or wrong key gets 401 with Content-Type
//     "application/json; charset=utf-8", no WWW-Authenticate header, and the
//     body {"error": "Unauthorized", "message": "Invalid or missing API key.
//     Provide API key via 'Authorization: Bearer <key>' or 'X-API-Key: <key>'
//     header."}. An unknown protected path and an OPTIONS preflight get it
//     too; an unknown exempt path gets 404.
//
// With an empty apiKey the fake is the same build started without --api-key:
// the middleware is not installed and nothing is ever 401 (mainline ComfyUI
// has no /health; the fake keeps it). [ComfyUI.RequireBasicAuth] and
// [ComfyUI.RequireHeader] put a simulated reverse proxy in front, which
// checks every request, /health and /ws included, before ComfyUI sees it.
//
// # Routes
//
// Every route is also served under /api (/api/prompt, /api/health, …).
// Bodies are JSON as Python's json.dumps writes them (", " and ": "
// separators, non-ASCII escaped), with Content-Type
// "application/json; charset=utf-8"; responses from ComfyUI itself carry an
// aiohttp Server header.
//
//   - GET / — the frontend's index.html. With the patch and no valid key,
//     <script src="/auth_inject.js"></script> is injected before </head>;
//     there is no redirect. GET /auth_login.html and GET /auth_inject.js serve
//     the patch's login page and script.
//   - GET /health — {"status": "healthy", "version", "timestamp", "queue":
//     {"pending", "running"}, "device": "cuda:0", "vram": {"total", "free",
//     "used"}}, or the guide's shape (see [ComfyUI.SetHealthShape]); vram is
//     left out in CPU mode ([ComfyUI.SetCPUMode]); 503 {"status": "unhealthy",
//     "error", "timestamp"} after [ComfyUI.SetUnhealthy].
//   - POST /prompt — validates like ComfyUI: a JSON object with "prompt"
//     (else 400 type "no_prompt"; a "prompt" that is not an object makes
//     Python raise, so 500); "prompt_id", if not null, a canonical
//     lowercase UUID (else 400 "invalid_prompt_id"); every node needs a known
//     class_type (else 400 "invalid_prompt"); at least one output node (else
//     400 "prompt_no_outputs"); nodes feeding an output need their required
//     inputs (else 400 "prompt_outputs_failed_validation" with node_errors).
//     Known nodes: CheckpointLoaderSimple, CLIPTextEncode, KSampler,
//     EmptyLatentImage, VAEDecode and the output nodes SaveImage and
//     PreviewImage. Success: {"prompt_id", "number", "node_errors": {}}, the
//     number counting up from 0 ("number" in the body sets it, "front": true
//     negates it). "partial_execution_targets" limits the outputs; the
//     Comfy.org keys api_key_comfy_org and auth_token_comfy_org are removed
//     from extra_data, client_id and create_time are added to it.
//   - GET /prompt — {"exec_info": {"queue_remaining": N}} (pending + running).
//   - GET /queue — {"queue_running": [...], "queue_pending": [...]}, each item
//     [number, prompt_id, prompt, extra_data, outputs_to_execute], pending in
//     the order of Python's heapq. POST /queue {"clear": true} or
//     {"delete": [ids]} removes pending prompts: 200, empty body.
//   - GET /history (max_items, offset, with ComfyUI's own arithmetic) and
//     GET /history/{prompt_id} — an object keyed by prompt id: {"prompt",
//     "outputs", "status", "meta"}; an unknown id gives {}. POST /history
//     takes "clear" and "delete" like /queue.
//   - POST /interrupt — optional {"prompt_id"}; an empty or non-JSON body is
//     a global interrupt; a prompt_id only counts if that prompt is running.
//     200, empty body. A running prompt (see [ComfyUI.StartPrompt]) that is
//     hit lands in history with status "error" and an execution_interrupted
//     message; with nothing running nothing changes.
//   - POST /free — 200, empty body. GET /system_stats and GET /features —
//     fixed data in ComfyUI's shapes.
//   - GET /ws — a WebSocket: the upgrade is checked as aiohttp does (400 with
//     its text otherwise), the first message is {"type": "status", "data":
//     {"status": {"exec_info": {"queue_remaining": N}}, "sid": …}} (sid from
//     ?clientId= or a new 32-hex id), a first client message of type
//     "feature_flags" is answered with the server's flags, pings are ponged,
//     close is echoed. No execution events are sent and permessage-deflate is
//     not negotiated.
//
// Errors are aiohttp's: an unknown path gets 404 text/plain "404: Not Found"
// for GET and HEAD and 405 "405: Method Not Allowed" with an Allow header for
// other methods, because the frontend's static route answers GET and HEAD on
// every path (so GET /interrupt is 404 and DELETE /prompt 405, Allow
// "GET,HEAD,POST"); a body that is not
// JSON where the handler reads JSON (POST /prompt, /queue, /history, /free)
// gets 500 text/plain "500 Internal Server Error\n\nServer got itself in
// trouble", as the real server's unhandled exception does. OPTIONS that passes
// the key check gets 200 with an empty body, and a request whose Origin does
// not match a loopback Host gets 403 with an empty body (mainline's origin
// check).
//
// There is no executor: prompts stay pending until [ComfyUI.StartPrompt],
// [ComfyUI.CompletePrompt] or an interrupt moves them. A ComfyUI is safe for
// concurrent use.
//
//	srv := authtest.NewComfyUI("s3cret")
//	defer srv.Close()
//	c, err := authclient.New(authclient.ComfyUI, srv.URL, authclient.WithAPIKey("s3cret"))
type ComfyUI struct {
	*Server
	st     *comfyState
	routes *router[comfyHandler]
}

const (
	comfyVersion       = "0.3.64"
	comfyServerHeader  = "Python/3.12 aiohttp/3.12.15"
	comfyVRAMTotal     = 25386352640
	comfyVRAMFree      = 24000000000
	comfyRAMTotal      = 67331584000
	comfyRAMFree       = 60129542144
	comfyMaxHistory    = 10000
	comfyMaxBody       = 100 << 20 // --max-upload-size default, 100 MB
	comfyWSMaxMessage  = 4 << 20   // aiohttp's default max_msg_size
	comfyWSGUID        = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	comfyInternalError = "500 Internal Server Error\n\nServer got itself in trouble"

	comfyUnauthorizedBody = `{"error": "Unauthorized", "message": "Invalid or missing API key. ` +
		`Provide API key via 'Authorization: Bearer <key>' or 'X-API-Key: <key>' header."}`

	comfyIndexHTML = "<!doctype html>\n<html lang=\"en\">\n  <head>\n    <meta charset=\"UTF-8\">\n" +
		"    <title>ComfyUI</title>\n    <script type=\"module\" crossorigin src=\"./assets/index.js\"></script>\n" +
		"  </head>\n  <body class=\"litegraph grid\">\n    <div id=\"vue-app\"></div>\n  </body>\n</html>\n"
	comfyLoginHTML = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"UTF-8\">\n<title>ComfyUI - Login</title>\n" +
		"</head>\n<body>\n<form id=\"loginForm\"><input type=\"password\" id=\"apiKey\"><button type=\"submit\">Login</button></form>\n" +
		"</body>\n</html>\n"
	comfyInjectJS = "// ComfyUI auth injection: adds Authorization: Bearer <key> to fetch and XHR,\n" +
		"// redirects to /auth_login.html on 401.\n(function () {\n  const key = localStorage.getItem('comfyui_api_key') ||\n" +
		"    sessionStorage.getItem('comfyui_api_key');\n  if (!key) { window.location.href = '/auth_login.html'; }\n})();\n"
)

var (
	comfyStaticSuffixes = []string{".html", ".js", ".css", ".json", ".map", ".png", ".jpg", ".jpeg",
		".gif", ".svg", ".ico", ".woff", ".woff2", ".ttf", ".eot", ".webp"}
	comfyStaticPrefixes = []string{"/extensions/", "/templates/", "/docs/"}
	comfySensitiveKeys  = []string{"auth_token_comfy_org", "api_key_comfy_org"}
	comfyUUIDPattern    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

	// comfyNodeInputs lists the node classes the fake knows, with their
	// required inputs.
	comfyNodeInputs = map[string][]string{
		"CheckpointLoaderSimple": {"ckpt_name"},
		"CLIPTextEncode":         {"text", "clip"},
		"KSampler": {"model", "seed", "steps", "cfg", "sampler_name", "scheduler",
			"positive", "negative", "latent_image", "denoise"},
		"EmptyLatentImage": {"width", "height", "batch_size"},
		"VAEDecode":        {"samples", "vae"},
		"SaveImage":        {"images", "filename_prefix"},
		"PreviewImage":     {"images"},
	}
)

// comfyState is everything the fake remembers, guarded by mu.
type comfyState struct {
	clock  *Clock
	apiKey string // fixed at start; "" means no patch middleware

	mu         sync.Mutex
	basicUser  string
	basicPass  string
	hdrName    string
	hdrValue   string
	unhealthy  string
	shape      string
	cpu        bool
	number     int64
	pending    []*comfyItem // a Python heapq, in heap order
	running    []*comfyItem
	historyIDs []string
	history    map[string]*comfyHistory
	prompts    []string
	interrupts int
	counters   map[string]int // SaveImage counters by filename prefix
	sockets    map[net.Conn]struct{}
	closed     bool
}

// comfyItem is a queued prompt: [number, prompt_id, prompt, extra_data, outputs_to_execute].
type comfyItem struct {
	number  comfyNumber
	id      string
	prompt  json.RawMessage
	nodes   []*comfyNode
	extra   comfyObject
	outputs []string
}

// comfyHistory is a finished prompt.
type comfyHistory struct {
	item    *comfyItem
	outputs comfyObject
	status  comfyObject
	meta    comfyObject
}

// comfyNode is one node of an API-format prompt.
type comfyNode struct {
	id        string
	class     string
	classOK   bool // class_type present and a string
	classText string
	inputs    comfyObject
}

// NewComfyUI starts a fake ComfyUI that runs the API-key patch with the
// given key. An empty apiKey starts a plain ComfyUI (no patch: nothing is
// ever 401). The fake is mounted under [WithPrefix]'s prefix, if any, and
// answers requests outside it with a 500. Close it when done.
func NewComfyUI(apiKey string, opts ...Option) *ComfyUI {
	cfg := newConfig(opts)
	c := &ComfyUI{st: &comfyState{
		clock:    cfg.clock,
		apiKey:   apiKey,
		shape:    "code",
		history:  map[string]*comfyHistory{},
		counters: map[string]int{},
		sockets:  map[net.Conn]struct{}{},
	}}
	c.routes = c.buildRoutes()
	c.Server = start(http.HandlerFunc(c.serveHTTP), cfg, prefixStrict)
	return c
}

// Close closes open WebSocket connections, then shuts the fake down like
// [Server.Close].
func (c *ComfyUI) Close() {
	c.st.mu.Lock()
	c.st.closed = true
	conns := make([]net.Conn, 0, len(c.st.sockets))
	for conn := range c.st.sockets {
		conns = append(conns, conn)
	}
	c.st.mu.Unlock()
	for _, conn := range conns {
		_ = conn.Close()
	}
	c.Server.Close()
}

// RequireBasicAuth puts the fake behind a reverse proxy that demands HTTP
// Basic auth (user, password) on every path: 401 with
// `WWW-Authenticate: Basic realm="ComfyUI"` and a text body otherwise. This is
// how people protect a plain ComfyUI; combine with an empty apiKey. The proxy
// forwards the Authorization header, so with the patch enabled as well the
// key must then travel in X-API-Key. An empty user turns the check off.
func (c *ComfyUI) RequireBasicAuth(user, password string) {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	c.st.basicUser, c.st.basicPass = user, password
}

// RequireHeader makes the simulated proxy demand a custom header (e.g.
// Cloudflare Access service tokens, CF-Access-Client-Id): 403 text otherwise.
// The header check runs before the Basic auth check. An empty name turns it
// off.
func (c *ComfyUI) RequireHeader(name, value string) {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	c.st.hdrName, c.st.hdrValue = name, value
}

// SetUnhealthy makes GET /health answer 503
// {"status": "unhealthy", "error": msg, "timestamp": …}; "" restores health.
func (c *ComfyUI) SetUnhealthy(msg string) {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	c.st.unhealthy = msg
}

// SetHealthShape switches /health between the shape the code produces
// ("code": status "healthy", device string, vram object, version, timestamp,
// queue) and the shape the guide shows ("guide": status "ok", device object
// {"name","type"}, vram with only total and free, no version/timestamp).
// Default "code"; any other value than "guide" means "code".
func (c *ComfyUI) SetHealthShape(shape string) {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	c.st.shape = shape
}

// SetCPUMode omits vram from /health (as with --cpu); the device becomes
// "cpu" in /health and /system_stats.
func (c *ComfyUI) SetCPUMode(on bool) {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	c.st.cpu = on
}

// Prompts returns the prompt ids queued so far, in order, whatever happened
// to them since.
func (c *ComfyUI) Prompts() []string {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	return append([]string(nil), c.st.prompts...)
}

// StartPrompt moves a pending prompt to queue_running, as ComfyUI's executor
// does when it picks the prompt up. It reports false, and does nothing, if
// the prompt is not pending or another prompt is already running (ComfyUI
// runs one at a time).
func (c *ComfyUI) StartPrompt(promptID string) bool {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if len(c.st.running) > 0 {
		return false
	}
	it := c.st.removePending(promptID)
	if it == nil {
		return false
	}
	c.st.running = append(c.st.running, it)
	return true
}

// CompletePrompt moves a queued prompt (pending or running) to history as
// finished with status "success" and one output image per output node (so
// one image for the usual single SaveImage): SaveImage writes
// "<filename_prefix>_00001_.png" of type "output", PreviewImage a "temp"
// image. An unknown id does nothing.
func (c *ComfyUI) CompletePrompt(promptID string) {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	it := c.st.removeRunning(promptID)
	if it == nil {
		it = c.st.removePending(promptID)
	}
	if it == nil {
		return
	}
	ms := c.st.clock.Now().UnixMilli()
	outputs, meta := comfyObject{}, comfyObject{}
	for _, id := range it.outputs {
		n := it.findNode(id)
		if n == nil {
			continue
		}
		img := c.st.saveImage(n, it.id)
		outputs = outputs.set(id, comfyObject{{"images", []any{img}}})
		meta = meta.set(id, comfyObject{{"node_id", id}, {"display_node", id}, {"parent_node", nil}, {"real_node_id", id}})
	}
	status := comfyObject{
		{"status_str", "success"},
		{"completed", true},
		{"messages", []any{
			[]any{"execution_start", comfyObject{{"prompt_id", it.id}, {"timestamp", ms}}},
			[]any{"execution_cached", comfyObject{{"nodes", []any{}}, {"prompt_id", it.id}, {"timestamp", ms}}},
			[]any{"execution_success", comfyObject{{"prompt_id", it.id}, {"timestamp", ms}}},
		}},
	}
	c.st.addHistory(&comfyHistory{item: it, outputs: outputs, status: status, meta: meta})
}

// Interrupts reports how many times /interrupt was called (requests that
// reached the handler, global or targeted, whether or not they hit a
// running prompt).
func (c *ComfyUI) Interrupts() int {
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	return c.st.interrupts
}

// serveHTTP is the simulated proxy, the patch's middleware and mainline's
// middleware and router, in that order.
func (c *ComfyUI) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.st.proxyAllows(w, r) {
		return
	}
	w.Header().Set("Server", comfyServerHeader)
	path := r.URL.Path
	if c.st.apiKey != "" && !comfyExempt(path) {
		if key, ok := comfyCandidateKey(r); !ok || key == "" || key != c.st.apiKey {
			writeText(w, http.StatusUnauthorized, "application/json; charset=utf-8", comfyUnauthorizedBody)
			return
		}
	}
	if comfyOriginMismatch(r) {
		writeText(w, http.StatusForbidden, "", "")
		return
	}
	if r.Method == http.MethodOptions {
		writeText(w, http.StatusOK, "", "")
		return
	}
	rp := path
	if strings.HasPrefix(path, "/api/") {
		rp = path[len("/api"):]
	}
	m := c.routes.lookup(r.Method, rp)
	if m.found {
		m.h(w, r, m.params)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		// The frontend's static route on "/" answers everything else.
		if path == "/index.html" {
			writeText(w, http.StatusOK, "text/html", comfyIndexHTML)
			return
		}
		writeText(w, http.StatusNotFound, "text/plain; charset=utf-8", "404: Not Found")
		return
	}
	allow := map[string]bool{http.MethodGet: true, http.MethodHead: true}
	for _, method := range m.allowed {
		allow[method] = true
	}
	names := make([]string, 0, len(allow))
	for m := range allow {
		names = append(names, m)
	}
	sort.Strings(names)
	w.Header().Set("Allow", strings.Join(names, ","))
	writeText(w, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", "405: Method Not Allowed")
}

// comfyHandler answers a request; params are the route's path parameters.
type comfyHandler func(w http.ResponseWriter, r *http.Request, params []string)

// buildRoutes is aiohttp's routing table, paths without the /api prefix. A
// path parameter matches aiohttp's default [^{}/]+.
func (c *ComfyUI) buildRoutes() *router[comfyHandler] {
	rt := &router[comfyHandler]{param: func(s string) bool { return !strings.ContainsAny(s, "{}") }}
	add := func(method, path string, h http.HandlerFunc) {
		rt.handle(method, path, func(w http.ResponseWriter, r *http.Request, _ []string) { h(w, r) })
	}
	add(http.MethodGet, "/", c.getRoot)
	add(http.MethodGet, "/auth_login.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		writeText(w, http.StatusOK, "text/html", comfyLoginHTML)
	})
	add(http.MethodGet, "/auth_inject.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		writeText(w, http.StatusOK, "application/javascript", comfyInjectJS)
	})
	add(http.MethodGet, "/health", c.getHealth)
	add(http.MethodGet, "/ws", c.serveWS)
	add(http.MethodGet, "/prompt", c.getPrompt)
	add(http.MethodPost, "/prompt", c.postPrompt)
	add(http.MethodGet, "/queue", c.getQueue)
	add(http.MethodPost, "/queue", c.postQueue)
	add(http.MethodGet, "/history", c.getHistory)
	add(http.MethodPost, "/history", c.postHistory)
	add(http.MethodPost, "/interrupt", c.postInterrupt)
	add(http.MethodPost, "/free", c.postFree)
	add(http.MethodGet, "/system_stats", c.getSystemStats)
	add(http.MethodGet, "/features", func(w http.ResponseWriter, _ *http.Request) {
		comfyWriteJSON(w, http.StatusOK, comfyFeatures())
	})
	rt.handle(http.MethodGet, "/history/:prompt_id", func(w http.ResponseWriter, _ *http.Request, params []string) {
		id := params[0]
		c.st.mu.Lock()
		out := comfyObject{}
		if h := c.st.history[id]; h != nil {
			out = out.set(id, h.json())
		}
		c.st.mu.Unlock()
		comfyWriteJSON(w, http.StatusOK, out)
	})
	return rt
}

// proxyAllows applies the simulated reverse proxy's checks and answers the
// request itself when they fail.
func (st *comfyState) proxyAllows(w http.ResponseWriter, r *http.Request) bool {
	st.mu.Lock()
	hdrName, hdrValue := st.hdrName, st.hdrValue
	user, pass := st.basicUser, st.basicPass
	st.mu.Unlock()
	if hdrName != "" && r.Header.Get(hdrName) != hdrValue {
		writeText(w, http.StatusForbidden, "text/plain; charset=utf-8", "403 Forbidden\n")
		return false
	}
	if user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="ComfyUI"`)
			writeText(w, http.StatusUnauthorized, "text/plain; charset=utf-8", "401 Unauthorized\n")
			return false
		}
	}
	return true
}

// comfyExempt is the patch's is_path_exempt.
func comfyExempt(path string) bool {
	if path == "/health" || path == "/ws" || path == "/" {
		return true
	}
	for _, s := range comfyStaticSuffixes {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	for _, p := range comfyStaticPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// comfyCandidateKey is the patch's extract_api_key: the first source present
// wins. ok is false when no source gave a key.
func comfyCandidateKey(r *http.Request) (string, bool) {
	if k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return k, true
	}
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k, true
	}
	if k := r.URL.Query().Get("api_key"); k != "" {
		return k, true
	}
	return "", false
}

// comfyOriginMismatch is mainline's origin-only check: with both Host and
// Origin present and a loopback Host, their host names must match.
func comfyOriginMismatch(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || r.Host == "" {
		return false
	}
	o, err := url.Parse(origin)
	if err != nil {
		return false
	}
	h, err := url.Parse("//" + strings.ToLower(r.Host))
	if err != nil {
		return false
	}
	hostName := strings.ToLower(h.Hostname())
	ip := net.ParseIP(hostName)
	if !(hostName == "localhost" || (ip != nil && ip.IsLoopback())) {
		return false
	}
	hostDomain, originDomain := strings.ToLower(r.Host), strings.ToLower(o.Host)
	if o.Port() == "" {
		hostDomain = hostName
	}
	if h.Port() == "" {
		originDomain = strings.ToLower(o.Hostname())
	}
	return hostDomain != "" && originDomain != "" && hostDomain != originDomain
}

// getRoot serves index.html, with the patch's script injected when the
// request carries no valid key.
func (c *ComfyUI) getRoot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Expires", "0")
	if c.st.apiKey != "" {
		if key, ok := comfyCandidateKey(r); !ok || key != c.st.apiKey {
			html := strings.ReplaceAll(comfyIndexHTML, "</head>", "<script src=\"/auth_inject.js\"></script>\n</head>")
			writeText(w, http.StatusOK, "text/html; charset=utf-8", html)
			return
		}
	}
	writeText(w, http.StatusOK, "text/html", comfyIndexHTML)
}

func (c *ComfyUI) getHealth(w http.ResponseWriter, _ *http.Request) {
	c.st.mu.Lock()
	unhealthy, shape, cpu := c.st.unhealthy, c.st.shape, c.st.cpu
	pending, running := len(c.st.pending), len(c.st.running)
	c.st.mu.Unlock()
	now := c.st.clock.Now()
	ts := comfyFloat(float64(now.Unix()) + float64(now.Nanosecond())/1e9)
	if unhealthy != "" {
		comfyWriteJSON(w, http.StatusServiceUnavailable,
			comfyObject{{"status", "unhealthy"}, {"error", unhealthy}, {"timestamp", ts}})
		return
	}
	queue := comfyObject{{"pending", pending}, {"running", running}}
	device, devType := "cuda:0", "cuda"
	if cpu {
		device, devType = "cpu", "cpu"
	}
	var out comfyObject
	if shape == "guide" {
		out = comfyObject{{"status", "ok"}, {"queue", queue}, {"device", comfyObject{{"name", device}, {"type", devType}}}}
		if !cpu {
			out = append(out, comfyKV{"vram", comfyObject{{"total", comfyVRAMTotal}, {"free", comfyVRAMFree}}})
		}
	} else {
		out = comfyObject{{"status", "healthy"}, {"version", comfyVersion}, {"timestamp", ts}, {"queue", queue}, {"device", device}}
		if !cpu {
			out = append(out, comfyKV{"vram", comfyObject{
				{"total", comfyVRAMTotal}, {"free", comfyVRAMFree}, {"used", comfyVRAMTotal - comfyVRAMFree}}})
		}
	}
	comfyWriteJSON(w, http.StatusOK, out)
}

func (c *ComfyUI) getSystemStats(w http.ResponseWriter, _ *http.Request) {
	c.st.mu.Lock()
	cpu := c.st.cpu
	c.st.mu.Unlock()
	argv := []any{"main.py"}
	if c.st.apiKey != "" {
		argv = append(argv, "--api-key-file", "api_key.txt")
	}
	torch := "2.8.0+cu128"
	device := comfyObject{{"name", "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync"}, {"type", "cuda"}, {"index", 0},
		{"vram_total", comfyVRAMTotal}, {"vram_free", comfyVRAMFree}, {"torch_vram_total", 0}, {"torch_vram_free", 0}}
	if cpu {
		argv = append(argv, "--cpu")
		torch = "2.8.0+cpu"
		device = comfyObject{{"name", "cpu"}, {"type", "cpu"}, {"index", nil},
			{"vram_total", comfyRAMTotal}, {"vram_free", comfyRAMFree}, {"torch_vram_total", comfyRAMTotal}, {"torch_vram_free", comfyRAMFree}}
	}
	comfyWriteJSON(w, http.StatusOK, comfyObject{
		{"system", comfyObject{
			{"os", "linux"},
			{"ram_total", comfyRAMTotal},
			{"ram_free", comfyRAMFree},
			{"comfyui_version", comfyVersion},
			{"required_frontend_version", "1.27.10"},
			{"installed_templates_version", "0.1.94"},
			{"required_templates_version", "0.1.94"},
			{"python_version", "3.12.3 (main, Aug 14 2025, 17:47:21) [GCC 13.3.0]"},
			{"pytorch_version", torch},
			{"embedded_python", false},
			{"argv", argv},
		}},
		{"devices", []any{device}},
	})
}

// comfyFeatures is feature_flags.get_server_features() of v0.3.64.
func comfyFeatures() comfyObject {
	return comfyObject{
		{"supports_preview_metadata", true},
		{"max_upload_size", 104857600},
		{"extension", comfyObject{{"manager", comfyObject{{"supports_v4", true}}}}},
	}
}

func (c *ComfyUI) getPrompt(w http.ResponseWriter, _ *http.Request) {
	c.st.mu.Lock()
	n := len(c.st.pending) + len(c.st.running)
	c.st.mu.Unlock()
	comfyWriteJSON(w, http.StatusOK, comfyObject{{"exec_info", comfyObject{{"queue_remaining", n}}}})
}

func (c *ComfyUI) getQueue(w http.ResponseWriter, _ *http.Request) {
	c.st.mu.Lock()
	running := make([]any, 0, len(c.st.running))
	for _, it := range c.st.running {
		running = append(running, it.tuple())
	}
	pending := make([]any, 0, len(c.st.pending))
	for _, it := range c.st.pending {
		pending = append(pending, it.tuple())
	}
	c.st.mu.Unlock()
	comfyWriteJSON(w, http.StatusOK, comfyObject{{"queue_running", running}, {"queue_pending", pending}})
}

// postPrompt is mainline's POST /prompt with the validation of execution.py.
func (c *ComfyUI) postPrompt(w http.ResponseWriter, r *http.Request) {
	body, ok := comfyReadJSON(r)
	if !ok {
		comfyWrite500(w)
		return
	}
	top, isObj := comfyDecodeObject(body)
	if !isObj {
		// Python's `"number" in json_data` and friends on a list or string.
		if comfyKind(body) != '[' && comfyKind(body) != '"' ||
			comfyContains(body, "number") || comfyContains(body, "front") {
			comfyWrite500(w)
			return
		}
		c.st.mu.Lock()
		c.st.number++
		c.st.mu.Unlock()
		if comfyContains(body, "prompt") {
			comfyWrite500(w)
			return
		}
		comfyWritePromptError(w, "no_prompt", "No prompt provided", "No prompt provided", comfyObject{})
		return
	}

	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	var number comfyNumber
	if v, ok := top.get("number"); ok {
		f, ok := comfyPyFloat(v)
		if !ok {
			comfyWrite500(w)
			return
		}
		number = comfyNumber{f: f, isFloat: true}
	} else {
		n := c.st.number
		if v, ok := top.get("front"); ok && comfyTruthy(v) {
			n = -n
		}
		number = comfyNumber{f: float64(n)}
		c.st.number++
	}

	rawPrompt, ok := top.get("prompt")
	if !ok {
		comfyWritePromptError(w, "no_prompt", "No prompt provided", "No prompt provided", comfyObject{})
		return
	}
	promptID := uuid4()
	if v, ok := top.get("prompt_id"); ok && comfyKind(v) != 'n' {
		var s string
		if comfyKind(v) != '"' || json.Unmarshal(v, &s) != nil || !comfyUUIDPattern.MatchString(s) {
			comfyWritePromptError(w, "invalid_prompt_id", "prompt_id must be a valid UUID",
				"prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to let the server generate one",
				comfyObject{})
			return
		}
		promptID = s
	}

	targets, _ := top.get("partial_execution_targets")
	res, fail := comfyValidatePrompt(rawPrompt, targets)
	if fail {
		comfyWrite500(w)
		return
	}

	rawExtra, hasExtra := top.get("extra_data")
	extra := comfyObject{}
	if hasExtra {
		var isObj bool
		if extra, isObj = comfyDecodeObject(rawExtra); !isObj {
			if _, hasClient := top.get("client_id"); hasClient || res.err == nil {
				comfyWrite500(w) // Python indexes the non-dict extra_data
				return
			}
		}
	}
	if clientID, ok := top.get("client_id"); ok {
		extra = extra.set("client_id", clientID)
	}
	if res.err != nil {
		comfyWriteJSON(w, http.StatusBadRequest, comfyObject{{"error", res.err}, {"node_errors", res.nodeErrors}})
		return
	}
	for _, k := range comfySensitiveKeys {
		extra = extra.del(k)
	}
	extra = extra.set("create_time", c.st.clock.Now().UnixMilli())
	it := &comfyItem{number: number, id: promptID, prompt: rawPrompt, nodes: res.nodes, extra: extra, outputs: res.good}
	c.st.pending = comfyHeapPush(c.st.pending, it)
	c.st.prompts = append(c.st.prompts, promptID)
	comfyWriteJSON(w, http.StatusOK, comfyObject{{"prompt_id", promptID}, {"number", number}, {"node_errors", res.nodeErrors}})
}

// comfyWritePromptError writes the 400 {"error": {...}, "node_errors": {...}} of POST /prompt.
func comfyWritePromptError(w http.ResponseWriter, typ, message, details string, nodeErrors comfyObject) {
	comfyWriteJSON(w, http.StatusBadRequest, comfyObject{
		{"error", comfyPromptError(typ, message, details)},
		{"node_errors", nodeErrors},
	})
}

func comfyPromptError(typ, message, details string) comfyObject {
	return comfyObject{{"type", typ}, {"message", message}, {"details", details}, {"extra_info", comfyObject{}}}
}

// comfyValidation is the result of validate_prompt: err is nil when valid.
type comfyValidation struct {
	err        comfyObject
	nodes      []*comfyNode
	good       []string
	nodeErrors comfyObject
}

// comfyValidatePrompt is execution.validate_prompt for the fake's node set.
// fail reports input on which the real server raises (and answers 500).
func comfyValidatePrompt(raw, targets json.RawMessage) (res comfyValidation, fail bool) {
	res.nodeErrors = comfyObject{}
	noOutputs := comfyPromptError("prompt_no_outputs", "Prompt has no outputs", "")
	obj, isObj := comfyDecodeObject(raw)
	if !isObj {
		switch comfyKind(raw) {
		case '[':
			var elems []json.RawMessage
			if json.Unmarshal(raw, &elems) == nil && len(elems) == 0 {
				res.err = noOutputs
				return res, false
			}
		case '"':
			if string(raw) == `""` {
				res.err = noOutputs
				return res, false
			}
		}
		return res, true
	}

	byID := map[string]*comfyNode{}
	var outputs []string
	for _, kv := range obj {
		n := &comfyNode{id: kv.K}
		node, _ := comfyDecodeObject(kv.V.(json.RawMessage))
		ct, hasClass := node.get("class_type")
		if !hasClass {
			res.err = comfyPromptError("invalid_prompt",
				"Cannot execute because a node is missing the class_type property.", "Node ID '#"+kv.K+"'")
			return res, false
		}
		n.classText = comfyPyStr(ct)
		if comfyKind(ct) == '"' {
			_ = json.Unmarshal(ct, &n.class)
			n.classOK = true
		}
		if _, known := comfyNodeInputs[n.class]; !n.classOK || !known {
			res.err = comfyPromptError("invalid_prompt",
				"Cannot execute because node "+n.classText+" does not exist.", "Node ID '#"+kv.K+"'")
			return res, false
		}
		if in, ok := node.get("inputs"); ok {
			n.inputs, _ = comfyDecodeObject(in)
		}
		res.nodes = append(res.nodes, n)
		byID[n.id] = n
		if n.class == "SaveImage" || n.class == "PreviewImage" {
			selected, bad := comfyTargeted(targets, n.id)
			if bad {
				return res, true
			}
			if selected {
				outputs = append(outputs, n.id)
			}
		}
	}
	if len(outputs) == 0 {
		res.err = noOutputs
		return res, false
	}

	v := &comfyValidator{nodes: byID, validated: map[string]*comfyCheck{}, busy: map[string]bool{}}
	type nodeError struct {
		reasons   []any
		class     string
		dependent []any
	}
	var errIDs []string
	nodeErrors := map[string]*nodeError{}
	var details []string
	for _, o := range outputs {
		chk := v.validate(o)
		if chk.valid {
			res.good = append(res.good, o)
			continue
		}
		for _, reason := range chk.reasons {
			details = append(details, reason.message+": "+reason.details)
		}
		for _, id := range v.order {
			r := v.validated[id]
			if r.valid || len(r.reasons) == 0 {
				continue
			}
			ne := nodeErrors[id]
			if ne == nil {
				ne = &nodeError{class: byID[id].class, dependent: []any{}}
				for _, reason := range r.reasons {
					ne.reasons = append(ne.reasons, reason.json())
				}
				nodeErrors[id] = ne
				errIDs = append(errIDs, id)
			}
			ne.dependent = append(ne.dependent, o)
		}
	}
	for _, id := range errIDs {
		ne := nodeErrors[id]
		res.nodeErrors = append(res.nodeErrors, comfyKV{id, comfyObject{
			{"errors", ne.reasons}, {"dependent_outputs", ne.dependent}, {"class_type", ne.class}}})
	}
	if len(res.good) == 0 {
		res.err = comfyPromptError("prompt_outputs_failed_validation", "Prompt outputs failed validation",
			strings.Join(details, "\n"))
	}
	if res.good == nil {
		res.good = []string{}
	}
	return res, false
}

// comfyTargeted reports whether output node id is among
// partial_execution_targets (absent or null: all are). bad reports a value
// Python's `in` cannot search.
func comfyTargeted(targets json.RawMessage, id string) (selected, bad bool) {
	switch comfyKind(targets) {
	case 0, 'n':
		return true, false
	case '[', '"':
		return comfyContains(targets, id), false
	case '{':
		obj, _ := comfyDecodeObject(targets)
		_, ok := obj.get(id)
		return ok, false
	}
	return false, true
}

// comfyReason is one validation error of a node.
type comfyReason struct {
	typ, message, details, input string
}

func (r comfyReason) json() comfyObject {
	return comfyObject{{"type", r.typ}, {"message", r.message}, {"details", r.details},
		{"extra_info", comfyObject{{"input_name", r.input}}}}
}

type comfyCheck struct {
	valid   bool
	reasons []comfyReason
}

// comfyValidator is execution.validate_inputs: required inputs must be
// present, and linked nodes must validate too.
type comfyValidator struct {
	nodes     map[string]*comfyNode
	validated map[string]*comfyCheck
	order     []string
	busy      map[string]bool // breaks link cycles
}

func (v *comfyValidator) validate(id string) *comfyCheck {
	if chk := v.validated[id]; chk != nil {
		return chk
	}
	if v.busy[id] {
		return &comfyCheck{valid: true}
	}
	v.busy[id] = true
	defer delete(v.busy, id)
	n := v.nodes[id]
	chk := &comfyCheck{valid: true}
	for _, name := range comfyNodeInputs[n.class] {
		val, ok := n.inputs.get(name)
		if !ok {
			chk.reasons = append(chk.reasons, comfyReason{"required_input_missing", "Required input is missing", name, name})
			continue
		}
		var link []json.RawMessage
		if comfyKind(val) != '[' || json.Unmarshal(val, &link) != nil || len(link) != 2 {
			continue
		}
		var from string
		if json.Unmarshal(link[0], &from) != nil || v.nodes[from] == nil {
			continue
		}
		if !v.validate(from).valid {
			chk.valid = false
		}
	}
	if len(chk.reasons) > 0 {
		chk.valid = false
	}
	v.validated[id] = chk
	v.order = append(v.order, id)
	return chk
}

func (c *ComfyUI) postQueue(w http.ResponseWriter, r *http.Request) {
	c.postClearDelete(w, r, func(st *comfyState) { st.pending = nil }, func(st *comfyState, id json.RawMessage) bool {
		var s string
		if json.Unmarshal(id, &s) == nil && comfyKind(id) == '"' {
			st.removePending(s)
		}
		return true
	})
}

func (c *ComfyUI) postHistory(w http.ResponseWriter, r *http.Request) {
	c.postClearDelete(w, r, func(st *comfyState) {
		st.history, st.historyIDs = map[string]*comfyHistory{}, nil
	}, func(st *comfyState, id json.RawMessage) bool {
		switch comfyKind(id) {
		case '[', '{':
			return false // unhashable: TypeError
		case '"':
			var s string
			_ = json.Unmarshal(id, &s)
			st.removeHistory(s)
		}
		return true
	})
}

// postClearDelete is the shared body of POST /queue and POST /history:
// {"clear": truthy} wipes, {"delete": [ids]} deletes; 200 with an empty body.
func (c *ComfyUI) postClearDelete(w http.ResponseWriter, r *http.Request, wipe func(*comfyState), del func(*comfyState, json.RawMessage) bool) {
	body, ok := comfyReadJSON(r)
	if !ok {
		comfyWrite500(w)
		return
	}
	top, isObj := comfyDecodeObject(body)
	if !isObj {
		if (comfyKind(body) == '[' || comfyKind(body) == '"') && !comfyContains(body, "clear") && !comfyContains(body, "delete") {
			writeText(w, http.StatusOK, "", "")
		} else {
			comfyWrite500(w)
		}
		return
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if v, ok := top.get("clear"); ok && comfyTruthy(v) {
		wipe(c.st)
	}
	if v, ok := top.get("delete"); ok {
		ids, iterable := comfyIterate(v)
		if !iterable {
			comfyWrite500(w)
			return
		}
		for _, id := range ids {
			if !del(c.st, id) {
				comfyWrite500(w)
				return
			}
		}
	}
	writeText(w, http.StatusOK, "", "")
}

func (c *ComfyUI) getHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	maxItems, hasMax := -1, false
	if vs, ok := q["max_items"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(vs[0]))
		if err != nil {
			comfyWrite500(w)
			return
		}
		maxItems, hasMax = n, true
	}
	offset := -1
	if vs, ok := q["offset"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(vs[0]))
		if err != nil {
			comfyWrite500(w)
			return
		}
		offset = n
	}
	c.st.mu.Lock()
	// PromptQueue.get_history, arithmetic quirks included.
	if offset < 0 && hasMax {
		offset = len(c.st.historyIDs) - maxItems
	}
	out := comfyObject{}
	for i, id := range c.st.historyIDs {
		if i >= offset {
			out = append(out, comfyKV{id, c.st.history[id].json()})
			if hasMax && len(out) >= maxItems {
				break
			}
		}
	}
	c.st.mu.Unlock()
	comfyWriteJSON(w, http.StatusOK, out)
}

func (c *ComfyUI) postInterrupt(w http.ResponseWriter, r *http.Request) {
	c.st.mu.Lock()
	c.st.interrupts++
	c.st.mu.Unlock()
	body, ok := comfyReadJSON(r)
	top := comfyObject{}
	if ok {
		var isObj bool
		if top, isObj = comfyDecodeObject(body); !isObj {
			comfyWrite500(w) // json_data.get on a non-dict
			return
		}
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	if v, ok := top.get("prompt_id"); ok && comfyTruthy(v) {
		var id string
		if comfyKind(v) == '"' && json.Unmarshal(v, &id) == nil && c.st.findRunning(id) {
			c.st.interruptRunning()
		}
	} else {
		c.st.interruptRunning()
	}
	writeText(w, http.StatusOK, "", "")
}

func (c *ComfyUI) postFree(w http.ResponseWriter, r *http.Request) {
	body, ok := comfyReadJSON(r)
	if !ok {
		comfyWrite500(w)
		return
	}
	if _, isObj := comfyDecodeObject(body); !isObj {
		comfyWrite500(w)
		return
	}
	writeText(w, http.StatusOK, "", "")
}

// interruptRunning ends the running prompt as interrupted, as the executor
// does when it sees the interrupt flag. Callers hold st.mu.
func (st *comfyState) interruptRunning() {
	ms := st.clock.Now().UnixMilli()
	for _, it := range st.running {
		nodeID, nodeType := "", ""
		if len(it.nodes) > 0 {
			nodeID, nodeType = it.nodes[0].id, it.nodes[0].class
		}
		status := comfyObject{
			{"status_str", "error"},
			{"completed", false},
			{"messages", []any{
				[]any{"execution_start", comfyObject{{"prompt_id", it.id}, {"timestamp", ms}}},
				[]any{"execution_cached", comfyObject{{"nodes", []any{}}, {"prompt_id", it.id}, {"timestamp", ms}}},
				[]any{"execution_interrupted", comfyObject{{"prompt_id", it.id}, {"node_id", nodeID},
					{"node_type", nodeType}, {"executed", []any{}}, {"timestamp", ms}}},
			}},
		}
		st.addHistory(&comfyHistory{item: it, outputs: comfyObject{}, status: status, meta: comfyObject{}})
	}
	st.running = nil
}

func (st *comfyState) findRunning(id string) bool {
	for _, it := range st.running {
		if it.id == id {
			return true
		}
	}
	return false
}

func (st *comfyState) removeRunning(id string) *comfyItem {
	for i, it := range st.running {
		if it.id == id {
			st.running = append(st.running[:i:i], st.running[i+1:]...)
			return it
		}
	}
	return nil
}

// removePending is PromptQueue.delete_queue_item: the first match is popped
// and the heap rebuilt.
func (st *comfyState) removePending(id string) *comfyItem {
	for i, it := range st.pending {
		if it.id == id {
			st.pending = append(st.pending[:i:i], st.pending[i+1:]...)
			comfyHeapify(st.pending)
			return it
		}
	}
	return nil
}

func (st *comfyState) addHistory(h *comfyHistory) {
	if len(st.historyIDs) > comfyMaxHistory {
		delete(st.history, st.historyIDs[0])
		st.historyIDs = st.historyIDs[1:]
	}
	if _, ok := st.history[h.item.id]; !ok {
		st.historyIDs = append(st.historyIDs, h.item.id)
	}
	st.history[h.item.id] = h
}

func (st *comfyState) removeHistory(id string) {
	if _, ok := st.history[id]; !ok {
		return
	}
	delete(st.history, id)
	for i, h := range st.historyIDs {
		if h == id {
			st.historyIDs = append(st.historyIDs[:i:i], st.historyIDs[i+1:]...)
			break
		}
	}
}

// saveImage names the image an output node writes. Callers hold st.mu.
func (st *comfyState) saveImage(n *comfyNode, promptID string) comfyObject {
	prefix, typ := "ComfyUI", "output"
	if n.class == "PreviewImage" {
		// ComfyUI adds "_temp_" and five random letters; derive them from the id.
		letters := []byte("_temp_")
		for i := 0; i < 5 && i < len(promptID); i++ {
			letters = append(letters, 'a'+promptID[i]%26)
		}
		prefix, typ = "ComfyUI"+string(letters), "temp"
	} else if v, ok := n.inputs.get("filename_prefix"); ok && comfyKind(v) == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil && s != "" {
			prefix = s
		}
	}
	subfolder := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		subfolder, prefix = prefix[:i], prefix[i+1:]
	}
	st.counters[subfolder+"/"+prefix]++
	name := fmt.Sprintf("%s_%05d_.png", prefix, st.counters[subfolder+"/"+prefix])
	return comfyObject{{"filename", name}, {"subfolder", subfolder}, {"type", typ}}
}

func (it *comfyItem) findNode(id string) *comfyNode {
	for _, n := range it.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// tuple is the queue item as ComfyUI lists it, sensitive data cut off.
func (it *comfyItem) tuple() []any {
	outs := make([]any, len(it.outputs))
	for i, o := range it.outputs {
		outs[i] = o
	}
	return []any{it.number, it.id, it.prompt, it.extra, outs}
}

func (h *comfyHistory) json() comfyObject {
	return comfyObject{{"prompt", h.item.tuple()}, {"outputs", h.outputs}, {"status", h.status}, {"meta", h.meta}}
}

// Python's heapq on (number, prompt_id) tuples, so queue_pending comes out
// in the same order as on the real server.

func comfyLess(a, b *comfyItem) bool {
	if a.number.f != b.number.f {
		return a.number.f < b.number.f
	}
	return a.id < b.id
}

func comfyHeapPush(h []*comfyItem, it *comfyItem) []*comfyItem {
	h = append(h, it)
	comfySiftDown(h, 0, len(h)-1)
	return h
}

func comfySiftDown(h []*comfyItem, startpos, pos int) {
	newitem := h[pos]
	for pos > startpos {
		parentpos := (pos - 1) >> 1
		if !comfyLess(newitem, h[parentpos]) {
			break
		}
		h[pos] = h[parentpos]
		pos = parentpos
	}
	h[pos] = newitem
}

func comfySiftUp(h []*comfyItem, pos int) {
	endpos, startpos, newitem := len(h), pos, h[pos]
	childpos := 2*pos + 1
	for childpos < endpos {
		if right := childpos + 1; right < endpos && !comfyLess(h[childpos], h[right]) {
			childpos = right
		}
		h[pos] = h[childpos]
		pos = childpos
		childpos = 2*pos + 1
	}
	h[pos] = newitem
	comfySiftDown(h, startpos, pos)
}

func comfyHeapify(h []*comfyItem) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		comfySiftUp(h, i)
	}
}

// serveWS is GET /ws: aiohttp's handshake checks, then ComfyUI's greeting.
func (c *ComfyUI) serveWS(w http.ResponseWriter, r *http.Request) {
	bad := func(text string) { writeText(w, http.StatusBadRequest, "text/plain; charset=utf-8", text) }
	if strings.ToLower(strings.TrimSpace(r.Header.Get("Upgrade"))) != "websocket" {
		bad("No WebSocket UPGRADE hdr: " + comfyPyHeader(r.Header, "Upgrade", false) + "\n Can \"Upgrade\" only to \"WebSocket\".")
		return
	}
	if !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		bad("No CONNECTION upgrade hdr: " + comfyPyHeader(r.Header, "Connection", false))
		return
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" && v != "8" && v != "7" {
		bad("Unsupported version: " + v)
		return
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if !comfyWSKeyOK(key) {
		bad("Handshake error: " + comfyPyHeader(r.Header, "Sec-WebSocket-Key", true))
		return
	}
	sid := r.URL.Query().Get("clientId")
	if sid == "" {
		sid = strings.ReplaceAll(uuid4(), "-", "")
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		comfyWrite500(w)
		return
	}
	c.st.mu.Lock()
	if c.st.closed {
		c.st.mu.Unlock()
		_ = conn.Close()
		return
	}
	c.st.sockets[conn] = struct{}{}
	remaining := len(c.st.pending) + len(c.st.running)
	c.st.mu.Unlock()
	defer func() {
		c.st.mu.Lock()
		delete(c.st.sockets, conn)
		c.st.mu.Unlock()
		_ = conn.Close()
	}()

	sum := sha1.Sum([]byte(key + comfyWSGUID))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"+
		"Sec-WebSocket-Accept: %s\r\nServer: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]), comfyServerHeader)
	send := func(event string, data any) error {
		b, err := comfyMarshalPython(comfyObject{{"type", event}, {"data", data}})
		if err != nil {
			return err
		}
		return comfyWSWrite(brw.Writer, 0x1, b)
	}
	if send("status", comfyObject{{"status", comfyObject{{"exec_info", comfyObject{{"queue_remaining", remaining}}}}}, {"sid", sid}}) != nil {
		return
	}
	first := true
	var msg []byte  // the text message being assembled
	var ignore bool // the message being assembled is binary
	for {
		fin, op, payload, err := comfyWSRead(brw.Reader)
		if err != nil {
			return
		}
		switch op {
		case 0x8: // close: answer with 1000 and hang up
			_ = comfyWSWrite(brw.Writer, 0x8, []byte{0x03, 0xe8})
			return
		case 0x9:
			if comfyWSWrite(brw.Writer, 0xA, payload) != nil {
				return
			}
			continue
		case 0xA:
			continue
		case 0x1, 0x2:
			msg, ignore = nil, op == 0x2
		case 0x0:
		default:
			return
		}
		if ignore {
			continue
		}
		if msg = append(msg, payload...); len(msg) > comfyWSMaxMessage {
			return
		}
		if !fin {
			continue
		}
		data, isObj := comfyDecodeObject(msg)
		if json.Valid(msg) && isObj {
			if t, ok := data.get("type"); first && ok && string(t) == `"feature_flags"` {
				if send("feature_flags", comfyFeatures()) != nil {
					return
				}
			}
			first = false
		}
		msg = nil
	}
}

// comfyWSKeyOK is aiohttp's check: the key decodes (leniently, as Python's
// base64.b64decode does) to 16 bytes.
func comfyWSKeyOK(key string) bool {
	clean := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=' {
			return r
		}
		return -1
	}, key)
	b, err := base64.StdEncoding.DecodeString(clean)
	return key != "" && err == nil && len(b) == 16
}

// comfyWSRead reads one client frame (masked, as RFC 6455 requires).
func comfyWSRead(r *bufio.Reader) (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	if h[1]&0x80 == 0 {
		return false, 0, nil, fmt.Errorf("unmasked client frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > comfyWSMaxMessage {
		return false, 0, nil, fmt.Errorf("frame too large")
	}
	var mask [4]byte
	if _, err = io.ReadFull(r, mask[:]); err != nil {
		return
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return fin, op, payload, nil
}

// comfyWSWrite writes one unmasked server frame and flushes it.
func comfyWSWrite(w *bufio.Writer, op byte, payload []byte) error {
	hdr := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, byte(n))
	case n <= math.MaxUint16:
		hdr = append(hdr, 126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	return w.Flush()
}

// JSON helpers: Python semantics on raw JSON values, and output as Python's
// json.dumps writes it.

// comfyKV is one member of a comfyObject.
type comfyKV struct {
	K string
	V any
}

// comfyObject is a JSON object that keeps its key order, like a Python dict.
type comfyObject []comfyKV

func (o comfyObject) get(k string) (json.RawMessage, bool) {
	for _, kv := range o {
		if kv.K == k {
			raw, ok := kv.V.(json.RawMessage)
			if !ok {
				raw, _ = comfyMarshal(kv.V)
			}
			return raw, true
		}
	}
	return nil, false
}

func (o comfyObject) set(k string, v any) comfyObject {
	for i := range o {
		if o[i].K == k {
			o[i].V = v
			return o
		}
	}
	return append(o, comfyKV{k, v})
}

func (o comfyObject) del(k string) comfyObject {
	for i := range o {
		if o[i].K == k {
			return append(o[:i:i], o[i+1:]...)
		}
	}
	return o
}

// MarshalJSON writes the members in order.
func (o comfyObject) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, kv := range o {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, err := comfyMarshal(kv.K)
		if err != nil {
			return nil, err
		}
		v, err := comfyMarshal(kv.V)
		if err != nil {
			return nil, err
		}
		buf = append(append(append(buf, k...), ':'), v...)
	}
	return append(buf, '}'), nil
}

// comfyNumber is a queue number: a Python int, or a float when the client
// set "number".
type comfyNumber struct {
	f       float64
	isFloat bool
}

// MarshalJSON writes the number as Python would.
func (n comfyNumber) MarshalJSON() ([]byte, error) {
	if n.isFloat {
		return comfyFloat(n.f).MarshalJSON()
	}
	return strconv.AppendInt(nil, int64(n.f), 10), nil
}

// comfyFloat is a Python float: 3.0, not 3.
type comfyFloat float64

// MarshalJSON writes the float as Python's repr does.
func (f comfyFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil, fmt.Errorf("authtest: comfyui: non-finite float")
	}
	if a := math.Abs(v); a != 0 && (a >= 1e16 || a < 1e-4) {
		return []byte(strconv.FormatFloat(v, 'e', -1, 64)), nil
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return []byte(s), nil
}

func comfyMarshal(v any) ([]byte, error) { return marshalCompact(v) }

// comfyMarshalPython encodes v as Python's json.dumps does: ", " and ": "
// separators, non-ASCII and DEL as \uXXXX, \b and \f short escapes.
func comfyMarshalPython(v any) ([]byte, error) {
	b, err := comfyMarshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+len(b)/8)
	inStr := false
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if !inStr {
			out = append(out, ch)
			switch ch {
			case '"':
				inStr = true
			case ',', ':':
				out = append(out, ' ')
			}
			continue
		}
		switch {
		case ch == '"':
			inStr = false
			out = append(out, ch)
		case ch == '\\':
			if i+5 < len(b) && b[i+1] == 'u' && string(b[i+2:i+6]) == "0008" {
				out, i = append(out, `\b`...), i+5
			} else if i+5 < len(b) && b[i+1] == 'u' && string(b[i+2:i+6]) == "000c" {
				out, i = append(out, `\f`...), i+5
			} else {
				out, i = append(out, ch, b[i+1]), i+1
			}
		case ch == 0x7f:
			out = append(out, `\u007f`...)
		case ch >= 0x80:
			r, size := utf8.DecodeRune(b[i:])
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
			i += size - 1
		default:
			out = append(out, ch)
		}
	}
	return out, nil
}

// comfyWriteJSON answers like aiohttp's web.json_response.
func comfyWriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := comfyMarshalPython(v)
	if err != nil {
		comfyWrite500(w)
		return
	}
	writeText(w, status, "application/json; charset=utf-8", string(b))
}

// comfyWrite500 is aiohttp's answer to an unhandled exception.
func comfyWrite500(w http.ResponseWriter) {
	writeText(w, http.StatusInternalServerError, "text/plain; charset=utf-8", comfyInternalError)
}

// comfyReadJSON reads a request body that must be valid JSON.
func comfyReadJSON(r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, comfyMaxBody))
	if err != nil {
		return nil, false
	}
	body = bytes.TrimSpace(body)
	return body, len(body) > 0 && json.Valid(body)
}

// comfyKind is the first byte of a JSON value: '{', '[', '"', 't', 'f',
// 'n', a digit or '-'; 0 if empty.
func comfyKind(raw []byte) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// comfyDecodeObject decodes a JSON object, keeping key order and the raw
// values (a repeated key keeps its first place and its last value, as in
// Python). ok is false if raw is not an object.
func comfyDecodeObject(raw []byte) (comfyObject, bool) {
	if comfyKind(raw) != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	obj := comfyObject{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, ok := t.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		obj = obj.set(k, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	return obj, true
}

// comfyIterate lists what Python's `for x in v` yields: list elements,
// string characters, object keys. ok is false for scalars.
func comfyIterate(v json.RawMessage) ([]json.RawMessage, bool) {
	switch comfyKind(v) {
	case '[':
		var elems []json.RawMessage
		err := json.Unmarshal(v, &elems)
		return elems, err == nil
	case '"':
		var s string
		_ = json.Unmarshal(v, &s)
		var out []json.RawMessage
		for _, r := range s {
			b, _ := json.Marshal(string(r))
			out = append(out, b)
		}
		return out, true
	case '{':
		obj, _ := comfyDecodeObject(v)
		var out []json.RawMessage
		for _, kv := range obj {
			b, _ := json.Marshal(kv.K)
			out = append(out, b)
		}
		return out, true
	}
	return nil, false
}

// comfyContains is Python's `s in v` for a list (element equality), a string
// (substring) or a dict (key).
func comfyContains(v json.RawMessage, s string) bool {
	switch comfyKind(v) {
	case '"':
		var str string
		return json.Unmarshal(v, &str) == nil && strings.Contains(str, s)
	case '[', '{':
		elems, _ := comfyIterate(v)
		for _, e := range elems {
			var str string
			if comfyKind(e) == '"' && json.Unmarshal(e, &str) == nil && str == s {
				return true
			}
		}
	}
	return false
}

// comfyTruthy is Python's truth value of a JSON value.
func comfyTruthy(v json.RawMessage) bool {
	switch comfyKind(v) {
	case 0, 'n', 'f':
		return false
	case 't':
		return true
	case '"':
		return string(bytes.TrimSpace(v)) != `""`
	case '[':
		var elems []json.RawMessage
		return json.Unmarshal(v, &elems) == nil && len(elems) > 0
	case '{':
		obj, _ := comfyDecodeObject(v)
		return len(obj) > 0
	}
	var f float64
	return json.Unmarshal(v, &f) == nil && f != 0
}

// comfyPyFloat is Python's float() of a JSON value; ok is false where Python
// raises (or the result is not finite).
func comfyPyFloat(v json.RawMessage) (float64, bool) {
	var f float64
	switch comfyKind(v) {
	case 't':
		return 1, true
	case 'f':
		return 0, true
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0, false
		}
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			return 0, false
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if json.Unmarshal(v, &f) != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsInf(f, 0) && !math.IsNaN(f)
}

// comfyPyStr is Python's str() of a JSON value, as an f-string shows it.
func comfyPyStr(v json.RawMessage) string {
	switch comfyKind(v) {
	case '"':
		var s string
		_ = json.Unmarshal(v, &s)
		return s
	case 'n':
		return "None"
	case 't':
		return "True"
	case 'f':
		return "False"
	}
	b, _ := comfyMarshalPython(v)
	return string(b)
}

// comfyPyHeader formats a header value as aiohttp's messages do: None when
// absent, and with repr quotes when quoted is set.
func comfyPyHeader(h http.Header, name string, quoted bool) string {
	vs := h.Values(name)
	if len(vs) == 0 {
		return "None"
	}
	s := vs[0]
	if !quoted {
		return s
	}
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
