package authtest

import (
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"sync"
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
//   - POST /upload/image — multipart "image" (file), "type" (input by
//     default, temp, output; another value is Python's 500), "subfolder"
//     (400 when it leaves the directory), "overwrite" ("true" or "1");
//     {"name", "subfolder", "type"}. Without overwrite a different file of
//     the same name makes "name (1).ext", "name (2).ext", …; the same bytes
//     reuse the name. A missing file part is 400, a body over 100 MB 413.
//     POST /upload/mask also takes "original_ref" (JSON {"filename",
//     "subfolder", "type"}; missing: 500); the fake stores the mask's
//     bytes as the result (it does not composite), and answers 200 without
//     storing anything when the original does not exist, as ComfyUI does.
//   - GET /view?filename=&subfolder=&type= — a stored file (uploaded, put
//     with [ComfyUI.PutFile], or written by a prompt's output node), with
//     Range support, its Content-Type from the extension and
//     Content-Disposition: filename="…"; type defaults to output, a
//     "name.png [input]" annotation overrides it; no filename 404, a bad
//     name or type 400, an escaping subfolder 403, an unknown file 404,
//     all with empty bodies. preview= and channel= are ignored.
//   - POST /free — 200, empty body. GET /system_stats and GET /features —
//     fixed data in ComfyUI's shapes.
//   - GET /ws — a WebSocket: the upgrade is checked as aiohttp does (400 with
//     its text otherwise), the first message is {"type": "status", "data":
//     {"status": {"exec_info": {"queue_remaining": N}}, "sid": …}} (sid from
//     ?clientId= or a new 32-hex id), a first client message of type
//     "feature_flags" is answered with the server's flags, pings are ponged,
//     close is echoed. Execution events are sent only when the executor
//     runs ([ComfyUI.RunPrompts]); permessage-deflate is not negotiated.
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
// By default there is no executor: prompts stay pending until
// [ComfyUI.StartPrompt], [ComfyUI.CompletePrompt] or an interrupt moves
// them. [ComfyUI.RunPrompts] switches on one that runs them by itself and
// sends ComfyUI's events over /ws. A ComfyUI is safe for
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
		"LoadImage":        {"image"},
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
	sockets    map[net.Conn]*comfySocket
	bySID      map[string]*comfySocket // the socket each client id routes to
	files      map[string]*comfyFile   // by comfyFileKey
	uploads    int
	job        *ComfyJob     // non-nil: queued prompts run by themselves
	wake       chan struct{} // tells the executor a prompt was queued
	interrupt  chan struct{} // closed to interrupt the prompt the executor runs
	done       chan struct{} // closed by Close
	runSID     string        // the client id of the prompt the executor runs
	runNode    string        // the node it runs
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
		sockets:  map[net.Conn]*comfySocket{},
		bySID:    map[string]*comfySocket{},
		files:    map[string]*comfyFile{},
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}}
	c.routes = c.buildRoutes()
	cfg.ext.owns, cfg.ext.auth, cfg.ext.alias = c.owns, c.userAuth, "/api"
	c.Server = start(http.HandlerFunc(c.serveHTTP), cfg, prefixStrict)
	return c
}

// Close closes open WebSocket connections, then shuts the fake down like
// [Server.Close].
func (c *ComfyUI) Close() {
	c.st.mu.Lock()
	if !c.st.closed {
		close(c.st.done)
	}
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
