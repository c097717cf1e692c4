package authclient

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"time"
)

// ComfyUI's wire facts (the API-key patch of Comfy-Org/ComfyUI PR #11263 on
// top of the v0.3.64 API; see ../shared/servers/comfyui.md):
//
//   - One static key, set with --api-key or --api-key-file at start. The
//     server takes ONE candidate key per request, first hit wins, no
//     fallback: "Authorization: Bearer <key>" (exact, case-sensitive
//     prefix), else X-API-Key, else ?api_key=. A stale Bearer masks a good
//     X-API-Key, so the client sends exactly one (comfyValidate at New,
//     comfyCheckRequest for what one call to Do adds).
//   - A missing or wrong key gets 401 {"error": "Unauthorized", "message":
//     "Invalid or missing API key. …"}, no WWW-Authenticate.
//   - /health, /ws and / (and static-looking paths) are exempt: /health
//     answers 200 whatever key is sent, so the key is checked on GET /prompt.
//     /api/health is NOT exempt.
//   - Without the patch (mainline ComfyUI) nothing is ever 401 and there is
//     no /health; such servers are protected, if at all, by a reverse proxy
//     (HTTP Basic, or a header such as Cloudflare Access's).
var comfySpec = register(&serverSpec{
	server:       ComfyUI,
	name:         "ComfyUI",
	envPrefix:    "COMFYUI",
	port:         "8188",
	keyPlacement: AsBearer(),
	passwords:    passwordBasic,
	diagnose:     comfyDiagnose,
	validate:     comfyValidate,
	checkRequest: comfyCheckRequest,

	health:    comfyHealth,
	checkAuth: comfyCheckAuth,
	probe:     comfyProbe,

	unsupported: map[Operation]string{
		"ListAPIKeys":        comfyNoKeys,
		"CreateAPIKey":       comfyNoKeys,
		"DeleteAPIKey":       comfyNoKeys,
		OpHeldAPIKey:         comfyNoKeys,
		"RotateAPIKey":       comfyNoKeys + "; to rotate it, restart the server with a new key",
		"Login":              comfyStaticKey + "; WithLogin means HTTP Basic for a reverse proxy in front of ComfyUI",
		OpRememberMe:         comfyStaticKey,
		"Logout":             comfyStaticKey + ": there is no session to end",
		OpLogoutWithGET:      comfyStaticKey + ": there is no session to end",
		OpLogoutAllDevices:   comfyStaticKey + ": there is no session to end",
		OpPaginate:           "ComfyUI has no paged lists",
		"ListOAuthProviders": comfyStaticKey,
		OpUseSession:         comfyStaticKey,
		OpParseSession:       comfyStaticKey,
		OpParseUser:          comfyStaticKey,
		"CurrentUser":        comfyStaticKey,
	},
})

const (
	comfyStaticKey = "ComfyUI has one static API key, set with --api-key (or --api-key-file) when the server starts, and no accounts, sessions or OAuth"
	comfyNoKeys    = comfyStaticKey + ": there are no keys to manage through the API"
)

// comfyValidate rejects configurations that would put more than one API
// key on a request, or lose a header to the key: ComfyUI reads only the
// first key it finds (Authorization: Bearer, then X-API-Key, then api_key),
// so a stale one would mask the right one. It runs once, at New; a key a
// single call adds is refused by comfyCheckRequest.
func comfyValidate(c *Client, a Authenticator) error {
	authz := c.headers.Get("Authorization")
	xKey := c.headers.Get("X-API-Key")
	inQuery := false
	if ka, ok := a.(*keyAuth); ok {
		switch {
		case ka.p.kind == placeBearer:
			if authz != "" {
				return configErr("WithHeader", "the Authorization header would be replaced by the ComfyUI API key sent as Authorization: Bearer; "+
					"to pass Basic credentials to a proxy as well, send the key in X-API-Key: WithAuthenticator(APIKeyIn(InHeader(\"X-API-Key\"), key))")
			}
			authz = "Bearer " + ka.key
		case ka.p.kind == placeHeader && http.CanonicalHeaderKey(ka.p.name) == "X-Api-Key":
			if xKey != "" {
				return configErr("WithHeader", "the X-API-Key header would be replaced by the API key placed in the same header; set it once")
			}
			xKey = ka.key
		case ka.p.kind == placeQuery && ka.p.name == "api_key":
			inQuery = true
		}
	}
	var sources []string
	if strings.HasPrefix(authz, "Bearer ") {
		sources = append(sources, "Authorization: Bearer")
	}
	if xKey != "" {
		sources = append(sources, "X-API-Key")
	}
	if inQuery {
		sources = append(sources, "query parameter api_key")
	}
	if len(sources) > 1 {
		return configErr("WithHeader", "every request would carry %d API keys (%s), but ComfyUI checks only the first it finds, "+
			"in the order Authorization: Bearer, X-API-Key, api_key, so a stale one masks the others; send exactly one",
			len(sources), strings.Join(sources, ", "))
	}
	return nil
}

// comfyDiagnose explains a 401: from the patch (bad or missing key) or from
// a reverse proxy in front of ComfyUI (bad Basic credentials). It reads the
// keys off the rejected request itself, because a key can get there other
// than through the authenticator: WithHeader, a per-call Header, an api_key
// in the path given to Do.
func comfyDiagnose(_ *Client, a Authenticator, req *http.Request) (string, string) {
	sources := comfyKeySources(req) // at most one: comfyCheckRequest
	switch a := a.(type) {
	case *keyAuth:
		if comfyReadsPlacement(a.p) {
			return CredentialAPIKey, "the API key (" + a.p.String() + ") was rejected: it must equal the key the server was started with (--api-key or --api-key-file), exactly"
		}
		// A key for a proxy (InHeader("X-Proxy-Token")): ComfyUI never
		// reads it; the key it did read, if any, is below.
	case *basicAuth:
		if len(sources) == 0 {
			return CredentialPassword, "a reverse proxy in front of ComfyUI rejected the username or password, or the server runs the API-key patch and no key was sent (add it with WithHeader(\"X-API-Key\", key))"
		}
		return CredentialPassword, "a reverse proxy in front of ComfyUI rejected the username or password, or ComfyUI rejected the API key sent in " +
			sources[0] + ": it must equal the key the server was started with (--api-key or --api-key-file)"
	}
	if len(sources) == 1 {
		return CredentialAPIKey, "the API key sent in " + sources[0] + " (set with WithHeader, a Header call option or the path) was rejected: " +
			"it must equal the key the server was started with (--api-key or --api-key-file)"
	}
	switch a := a.(type) {
	case nil, noAuth:
		return CredentialNone, "no API key was sent, and the server was started with --api-key: set COMFYUI_API_KEY or use WithAPIKey"
	case *keyAuth:
		return CredentialAPIKey, "ComfyUI received no API key: the key was sent in the " + a.p.String() + ", which ComfyUI never reads; " +
			comfyReads + " (use WithAPIKey; if that placement is for a proxy in front of ComfyUI, also send ComfyUI's key with WithHeader(\"X-API-Key\", key))"
	}
	// Any other credential (a cookie, a custom Authenticator): not a key
	// ComfyUI reads.
	return credentialKind(a), "ComfyUI received no API key: the request's credential is not one ComfyUI reads; " + comfyReads +
		" (use WithAPIKey)"
}

// comfyReads says where the API-key patch looks for a key.
const comfyReads = "it reads only Authorization: Bearer, X-API-Key and the api_key query parameter"

// comfyCheckRequest refuses a request that would carry more than one API
// key: a Header option or an api_key in the path given to Do, beside the
// client's own key. ComfyUI checks only the first it finds, so a stale one
// would mask the right one (and a 401 would blame the wrong key).
func comfyCheckRequest(_ *Client, req *http.Request) error {
	if sources := comfyKeySources(req); len(sources) > 1 {
		return configErr("Header", "the request would carry %d API keys (%s), and ComfyUI checks only the first it finds (%s), "+
			"so a stale one masks the others: send exactly one (drop the call option or the api_key in the path "+
			"that adds a key beside the client's)", len(sources), strings.Join(sources, ", "), sources[0])
	}
	return nil
}

// comfyKeySources lists the API keys a request carries, in the order the
// API-key patch looks for them (it checks only the first): an Authorization
// value starting with exactly "Bearer ", a non-empty X-API-Key header, a
// non-empty api_key query parameter.
func comfyKeySources(req *http.Request) []string {
	var s []string
	if strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
		s = append(s, "Authorization: Bearer")
	}
	if req.Header.Get("X-API-Key") != "" {
		s = append(s, "X-API-Key")
	}
	if req.URL != nil && req.URL.RawQuery != "" && req.URL.Query().Get("api_key") != "" {
		s = append(s, "query parameter api_key")
	}
	return s
}

// comfyReadsPlacement reports whether the API-key patch reads a key placed
// at p.
func comfyReadsPlacement(p Placement) bool {
	switch p.kind {
	case placeBearer:
		return true
	case placeHeader:
		return http.CanonicalHeaderKey(p.name) == "X-Api-Key"
	case placeQuery:
		return p.name == "api_key"
	}
	return false
}

// comfyInt is a JSON number read tolerantly: an integer, a float (Python
// writes queue numbers as 3.0 when a client chose them; truncated) or a
// numeric string. Anything else (null, objects, out-of-range values) reads
// as 0 without an error.
type comfyInt int64

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (n *comfyInt) UnmarshalJSON(b []byte) error {
	v, _ := comfyIntOf(b)
	*n = comfyInt(v)
	return nil
}

// comfyIntOf reads a JSON number (or numeric string) as an integer,
// truncating fractions; ok is false for anything else.
func comfyIntOf(b []byte) (v int64, ok bool) {
	var num json.Number
	if json.Unmarshal(b, &num) != nil || num == "" {
		return 0, false
	}
	if i, err := num.Int64(); err == nil {
		return i, true
	}
	if f, err := num.Float64(); err == nil && f > math.MinInt64 && f < math.MaxInt64 {
		return int64(math.Trunc(f)), true
	}
	return 0, false
}

// isJSONObject reports whether raw is a JSON object.
func isJSONObject(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return strings.HasPrefix(t, "{")
}

// comfyFloat is a JSON number read tolerantly, like [comfyInt]: anything
// that is not a finite number reads as 0.
type comfyFloat float64

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (f *comfyFloat) UnmarshalJSON(b []byte) error {
	*f = 0
	var num json.Number
	if json.Unmarshal(b, &num) != nil {
		return nil
	}
	if v, err := num.Float64(); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
		*f = comfyFloat(v)
	}
	return nil
}

// --- Health, CheckAuth, Probe ---

type comfyHealthDTO struct {
	Status    string          `json:"status"`
	Version   string          `json:"version"`
	Timestamp comfyFloat      `json:"timestamp"`
	Device    json.RawMessage `json:"device"`
	Queue     struct {
		Pending comfyInt `json:"pending"`
		Running comfyInt `json:"running"`
	} `json:"queue"`
	VRAM *struct {
		Total json.RawMessage `json:"total"`
		Free  json.RawMessage `json:"free"`
		Used  json.RawMessage `json:"used"`
	} `json:"vram"`
}

// comfyHealth reads GET /health, tolerant of both shapes seen: the code's
// (status "healthy", device a string, vram with used, version, timestamp)
// and the guide's (status "ok", device {"name","type"}, vram without used).
// The client's credentials are sent: the patch ignores them on /health, but
// a reverse proxy in front may demand them.
func comfyHealth(ctx context.Context, c *Client) (*Health, error) {
	var d comfyHealthDTO
	cl := newCall(http.MethodGet, "health")
	cl.noReauth = true
	cl.out = &comfyLenient{&d}
	cl.onError = func(e *Error) {
		if errors.Is(e, ErrNotFound) {
			e.Hint = "no /health here: mainline ComfyUI has none (it comes with the API-key patch); use Probe (or comfyui.Client.SystemStats)"
		}
	}
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	if d.Status == "" {
		return nil, c.newError(cl.answer, cl.answer.Request, ErrUnexpectedServer, "the answer has no status: is this ComfyUI's /health?")
	}
	h := &ComfyUIHealth{QueuePending: int(d.Queue.Pending), QueueRunning: int(d.Queue.Running)}
	var s string
	var obj struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	switch {
	case len(d.Device) == 0:
	case json.Unmarshal(d.Device, &s) == nil:
		h.Device = s
	case json.Unmarshal(d.Device, &obj) == nil:
		h.Device, h.DeviceType = obj.Name, obj.Type
	}
	if v := d.VRAM; v != nil {
		total, totalOK := comfyIntOf(v.Total)
		free, freeOK := comfyIntOf(v.Free)
		used, usedOK := comfyIntOf(v.Used)
		if !usedOK && totalOK && freeOK && total >= free {
			used = total - free // the guide's shape has no "used"
		}
		h.VRAMTotal, h.VRAMFree, h.VRAMUsed = total, free, used
	}
	if f := float64(d.Timestamp); f > 0 && f < 1e11 {
		sec := math.Floor(f)
		h.Timestamp = time.Unix(int64(sec), int64((f-sec)*1e9)).UTC()
	}
	return &Health{Status: d.Status, Version: d.Version, ComfyUI: h}, nil
}

// comfyLenient decodes JSON into v, ignoring type mismatches in fields
// (a "device" number, a "queue" string): what decodes is kept. Syntax
// errors still fail.
type comfyLenient struct{ v any }

func (l *comfyLenient) UnmarshalJSON(b []byte) error {
	err := json.Unmarshal(b, l.v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return nil
	}
	return err
}

// comfyCheckAuth asks for GET /prompt, a cheap protected endpoint.
func comfyCheckAuth(ctx context.Context, c *Client) error {
	var d struct {
		ExecInfo struct {
			QueueRemaining comfyInt `json:"queue_remaining"`
		} `json:"exec_info"`
	}
	cl := newCall(http.MethodGet, "prompt")
	cl.noReauth = true
	cl.out = &comfyLenient{&d}
	return c.send(ctx, cl)
}

// comfyProbe identifies ComfyUI from /health (the patch) or, where there is
// no /health (mainline), from /system_stats.
func comfyProbe(ctx context.Context, c *Client) (*ServerInfo, error) {
	h, err := comfyHealth(ctx, c)
	if err == nil {
		return &ServerInfo{Server: ComfyUI, Version: h.Version}, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	version, devices, answer, err := comfySystemStats(ctx, c)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && errors.Is(e, ErrNotFound) {
			e.kind = ErrUnexpectedServer
			e.Hint = "neither /health nor /system_stats here: not ComfyUI, or the base URL is wrong"
		}
		return nil, err
	}
	if version == "" && devices == 0 {
		return nil, c.newError(answer, answer.Request, ErrUnexpectedServer, "the answer is not ComfyUI's system stats")
	}
	return &ServerInfo{Server: ComfyUI, Version: version}, nil
}

// comfySystemStats reads what Probe needs of GET /system_stats (the
// ComfyUI version, how many devices are listed, and the answer they came
// from), tolerantly. The
// public, complete decoder is comfyui.Client.SystemStats.
func comfySystemStats(ctx context.Context, c *Client) (version string, devices int, answer *http.Response, err error) {
	var d struct {
		System struct {
			ComfyUIVersion string `json:"comfyui_version"`
		} `json:"system"`
		Devices []json.RawMessage `json:"devices"`
	}
	cl := newCall(http.MethodGet, "system_stats")
	cl.out = &comfyLenient{&d}
	if err := c.send(ctx, cl); err != nil {
		return "", 0, nil, err
	}
	for _, raw := range d.Devices {
		if isJSONObject(raw) {
			devices++
		}
	}
	return d.System.ComfyUIVersion, devices, cl.answer, nil
}
