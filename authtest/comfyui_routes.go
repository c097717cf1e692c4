package authtest

// The ComfyUI fake's request handling: the middleware chain, aiohttp's
// routing table and the static and status endpoints.

import (
	"net/http"
	"sort"
	"strings"
)

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
	add(http.MethodPost, "/upload/image", c.postUploadImage)
	add(http.MethodPost, "/upload/mask", c.postUploadMask)
	add(http.MethodGet, "/view", c.getView)
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
