package authclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"sort"
	"strconv"
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

	unsupported: map[string]string{
		"ListAPIKeys":            comfyNoKeys,
		"CreateAPIKey":           comfyNoKeys,
		"DeleteAPIKey":           comfyNoKeys,
		"RotateAPIKey":           comfyNoKeys + "; to rotate it, restart the server with a new key",
		"SetAPIKeyActive":        comfyNoKeys,
		"Login":                  comfyStaticKey + "; WithLogin means HTTP Basic for a reverse proxy in front of ComfyUI",
		"Logout":                 comfyStaticKey + ": there is no session to end",
		"ListOAuthProviders":     comfyStaticKey,
		"CurrentUser":            comfyStaticKey,
		"ListLibraries":          comfyStaticKey + ", and no libraries",
		"Authorize":              comfyStaticKey,
		"ConvertSessionToCookie": comfyStaticKey,
		"StartOpenIDLogin":       comfyStaticKey,
		"FinishOpenIDLogin":      comfyStaticKey,
	},
})

const (
	comfyStaticKey = "ComfyUI has one static API key, set with --api-key (or --api-key-file) when the server starts, and no accounts, sessions or OAuth"
	comfyNoKeys    = comfyStaticKey + ": there are no keys to manage through the API"
)

// comfyOnly returns nil for a ComfyUI client and an [*UnsupportedError]
// for op otherwise.
func (c *Client) comfyOnly(op string) error {
	if c.spec == comfySpec {
		return nil
	}
	return &UnsupportedError{Server: c.spec.server, Op: op, Reason: "it is a ComfyUI operation"}
}

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
			e.Hint = "no /health here: mainline ComfyUI has none (it comes with the API-key patch); use SystemStats or Probe"
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
	st, answer, err := comfySystemStats(ctx, c)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && errors.Is(e, ErrNotFound) {
			e.kind = ErrUnexpectedServer
			e.Hint = "neither /health nor /system_stats here: not ComfyUI, or the base URL is wrong"
		}
		return nil, err
	}
	if st.ComfyUIVersion == "" && len(st.Devices) == 0 {
		return nil, c.newError(answer, answer.Request, ErrUnexpectedServer, "the answer is not ComfyUI's system stats")
	}
	return &ServerInfo{Server: ComfyUI, Version: st.ComfyUIVersion}, nil
}

// --- Prompts ---

// QueuePromptRequest is a prompt to queue with [Client.QueuePrompt].
type QueuePromptRequest struct {
	// Prompt is the workflow in ComfyUI's API format (as "Export (API)"
	// saves it): a JSON object mapping node ids to {"class_type": …,
	// "inputs": {…}}, where a link is ["<node id>", <output index>]. It may
	// be a json.RawMessage or []byte holding that JSON, or any value that
	// marshals to a JSON object (a map[string]any, a struct). Required.
	Prompt any
	// PromptID is the id to queue the prompt under: a canonical lowercase
	// UUID. Empty means the client generates a random (version 4) one.
	PromptID string
	// ClientID is the WebSocket session (the /ws?clientId=…) that should
	// receive the prompt's progress events; optional.
	ClientID string
	// ExtraData is sent as extra_data (for example extra_pnginfo, or
	// api_key_comfy_org for Comfy.org partner nodes, which the client then
	// masks in its errors); optional.
	ExtraData map[string]any
	// Front queues the prompt ahead of the others (ComfyUI's "front").
	Front bool
	// Number sets the prompt's position number explicitly (ComfyUI's
	// "number"; lower runs first). nil lets the server count. Do not
	// combine with Front.
	Number *int
	// PartialExecutionTargets limits execution to these output node ids
	// (ComfyUI's partial_execution_targets); nil runs every output.
	PartialExecutionTargets []string
}

// QueuedPrompt is ComfyUI's answer to a queued prompt.
type QueuedPrompt struct {
	// PromptID identifies the prompt in the queue and the history.
	PromptID string
	// Number is its position number in the queue (fractional numbers,
	// possible when a client set one, are truncated).
	Number int
	// NodeErrors holds, by node id, ComfyUI's validation errors for output
	// nodes it dropped while queueing the rest; usually empty.
	NodeErrors map[string]json.RawMessage
}

type comfyPromptBody struct {
	Prompt    json.RawMessage `json:"prompt"`
	PromptID  string          `json:"prompt_id"`
	ClientID  string          `json:"client_id,omitempty"`
	ExtraData map[string]any  `json:"extra_data,omitempty"`
	Front     bool            `json:"front,omitempty"`
	Number    *int            `json:"number,omitempty"`
	Targets   []string        `json:"partial_execution_targets,omitempty"`
}

// QueuePrompt queues a prompt on ComfyUI (POST /prompt) and returns its id
// and queue number. The client always sends a prompt_id (r.PromptID, or a
// fresh UUID it generates), so the id is known before the server answers.
//
// The call is never retried: a second POST would queue the prompt twice.
// When it fails in a way that leaves it unknown whether the prompt was
// queued (no answer at all, a 5xx answer, an unreadable answer), the
// returned *QueuedPrompt is non-nil alongside the error and carries the
// PromptID that was sent: look for it with [Client.QueueStatus] or
// [Client.PromptHistory] before queueing again.
//
// A prompt ComfyUI refuses gives an [*Error] (status 400) whose Code is
// ComfyUI's error type ("prompt_outputs_failed_validation",
// "prompt_no_outputs", "invalid_prompt", …), whose Message is its message
// and whose Hint summarises the failing nodes; [PromptErrorDetails] returns
// the details. A bad r (no Prompt, a Prompt that is not a JSON object, a
// PromptID that is not a canonical lowercase UUID, Front with Number) is a
// [*ConfigError] and nothing is sent. Other servers return an error matching
// errors.ErrUnsupported.
func (c *Client) QueuePrompt(ctx context.Context, r QueuePromptRequest) (*QueuedPrompt, error) {
	if err := c.comfyOnly("QueuePrompt"); err != nil {
		return nil, err
	}
	prompt, err := comfyPromptJSON(r.Prompt)
	if err != nil {
		return nil, err
	}
	if r.Front && r.Number != nil {
		return nil, configErr("QueuePromptRequest", "set Front or Number, not both (ComfyUI ignores Front when Number is set)")
	}
	id := r.PromptID
	if id == "" {
		id = comfyUUID4()
	} else if !isCanonicalUUID(id) {
		return nil, configErr("QueuePromptRequest.PromptID", "must be a canonical lowercase UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), or empty to let the client make one")
	}
	for _, k := range []string{"api_key_comfy_org", "auth_token_comfy_org"} {
		if s, ok := r.ExtraData[k].(string); ok {
			c.secrets.add(s)
		}
	}
	cl := newCall(http.MethodPost, "prompt") // POST: never retried
	if err := cl.jsonBody(comfyPromptBody{Prompt: prompt, PromptID: id, ClientID: r.ClientID, ExtraData: r.ExtraData,
		Front: r.Front, Number: r.Number, Targets: r.PartialExecutionTargets}); err != nil {
		return nil, err
	}
	var d struct {
		PromptID   string                     `json:"prompt_id"`
		Number     comfyInt                   `json:"number"`
		NodeErrors map[string]json.RawMessage `json:"node_errors"`
	}
	cl.out = &comfyLenient{&d}
	cl.onError = func(e *Error) {
		if pv, ok := parsePromptValidation(e.Body); ok {
			e.Hint = c.secrets.scrub(pv.summary())
		}
	}
	if err := c.send(ctx, cl); err != nil {
		var e *Error
		var te *TransportError
		if errors.As(err, &te) || errors.As(err, &e) && (e.StatusCode >= 500 || e.StatusCode >= 200 && e.StatusCode < 300) {
			return &QueuedPrompt{PromptID: id}, err // it may have been queued
		}
		return nil, err // refused (4xx), or never sent
	}
	q := &QueuedPrompt{PromptID: id, Number: int(d.Number), NodeErrors: d.NodeErrors}
	if d.PromptID != "" {
		q.PromptID = d.PromptID // an older server may pick its own
	}
	return q, nil
}

// comfyPromptJSON returns the prompt as JSON and checks it is an object.
func comfyPromptJSON(p any) (json.RawMessage, error) {
	var raw []byte
	switch v := p.(type) {
	case nil:
		return nil, configErr("QueuePromptRequest.Prompt", "is empty (want the workflow in API format)")
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, &ConfigError{Setting: "QueuePromptRequest.Prompt", Problem: "cannot be encoded as JSON", Err: err}
		}
		raw = b
	}
	trimmed := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(trimmed, "{") || !json.Valid([]byte(trimmed)) {
		return nil, configErr("QueuePromptRequest.Prompt", "must be a JSON object mapping node ids to {\"class_type\", \"inputs\"} (the workflow in API format)")
	}
	return json.RawMessage(trimmed), nil
}

// comfyUUID4 returns a random version 4 UUID in canonical lowercase form.
func comfyUUID4() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	hex.Encode(s[9:13], b[4:6])
	hex.Encode(s[14:18], b[6:8])
	hex.Encode(s[19:23], b[8:10])
	hex.Encode(s[24:36], b[10:16])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}

// isCanonicalUUID reports whether s is a UUID in canonical lowercase
// hyphenated form, as newer ComfyUI servers require of prompt_id.
func isCanonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
				return false
			}
		}
	}
	return true
}

// PromptValidation is ComfyUI's explanation of a prompt it refused (the
// 400 answer to POST /prompt), from [PromptErrorDetails].
type PromptValidation struct {
	// Type is ComfyUI's error type, also in [Error.Code]:
	// "prompt_outputs_failed_validation", "prompt_no_outputs",
	// "invalid_prompt", "invalid_prompt_id", "no_prompt", …
	Type string
	// Message is ComfyUI's message, also in [Error.Message].
	Message string
	// Details is ComfyUI's details text (for invalid_prompt, the node:
	// "Node ID '#3'").
	Details string
	// Nodes lists the failing node inputs, one entry per error, ordered by
	// node id.
	Nodes []PromptNodeError
}

// PromptNodeError is one validation error of one node of a refused prompt.
type PromptNodeError struct {
	// NodeID is the node's id in the prompt; ClassType its class.
	NodeID, ClassType string
	// Type is the error type ("required_input_missing", "value_not_in_list", …).
	Type string
	// Message and Details are ComfyUI's texts ("Required input is
	// missing", "model").
	Message, Details string
	// Input is the input's name, when ComfyUI says.
	Input string
}

// PromptErrorDetails returns the details of a prompt ComfyUI refused, from
// an error returned by [Client.QueuePrompt] (or a POST /prompt through
// [Client.Do]). It reports false for any other error. The texts are the
// server's own, unfiltered.
func PromptErrorDetails(err error) (*PromptValidation, bool) {
	var e *Error
	if !errors.As(err, &e) || e.Server != ComfyUI {
		return nil, false
	}
	return parsePromptValidation(e.Body)
}

// parsePromptValidation reads {"error": {"type", "message", "details"},
// "node_errors": {id: {"errors": [...], "class_type"}}} tolerantly.
func parsePromptValidation(body []byte) (*PromptValidation, bool) {
	var d struct {
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Details string `json:"details"`
		} `json:"error"`
		NodeErrors map[string]json.RawMessage `json:"node_errors"`
	}
	if json.Unmarshal(body, &comfyLenient{&d}) != nil || d.Error == nil || d.Error.Type == "" {
		return nil, false
	}
	pv := &PromptValidation{Type: d.Error.Type, Message: d.Error.Message, Details: d.Error.Details}
	ids := make([]string, 0, len(d.NodeErrors))
	for id := range d.NodeErrors {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return comfyIDLess(ids[i], ids[j]) })
	for _, id := range ids {
		var n struct {
			ClassType string `json:"class_type"`
			Errors    []struct {
				Type      string `json:"type"`
				Message   string `json:"message"`
				Details   string `json:"details"`
				ExtraInfo struct {
					InputName string `json:"input_name"`
				} `json:"extra_info"`
			} `json:"errors"`
		}
		if json.Unmarshal(d.NodeErrors[id], &comfyLenient{&n}) != nil {
			continue
		}
		for _, r := range n.Errors {
			pv.Nodes = append(pv.Nodes, PromptNodeError{NodeID: id, ClassType: n.ClassType, Type: r.Type,
				Message: r.Message, Details: r.Details, Input: r.ExtraInfo.InputName})
		}
	}
	return pv, true
}

// comfyIDLess orders node ids numerically where both are numbers.
func comfyIDLess(a, b string) bool {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	if aerr == nil && berr == nil {
		return ai < bi
	}
	return a < b
}

// summary is a short, bounded one-line account of the failing nodes (the
// first error of each of the first three), or the details.
func (pv *PromptValidation) summary() string {
	const maxNodes = 3
	var parts []string
	seen := map[string]bool{}
	more := 0
	for _, n := range pv.Nodes {
		if seen[n.NodeID] {
			continue
		}
		seen[n.NodeID] = true
		if len(parts) == maxNodes {
			more++
			continue
		}
		s := "node " + truncate(cleanText(n.NodeID), 20)
		if n.ClassType != "" {
			s += " (" + truncate(cleanText(n.ClassType), 40) + ")"
		}
		s += ": " + truncate(cleanText(n.Message), 60)
		if d := cleanText(n.Details); d != "" {
			s += ": " + truncate(d, 60)
		}
		parts = append(parts, s)
	}
	if more > 0 {
		parts = append(parts, "and "+strconv.Itoa(more)+" more node(s)")
	}
	if len(parts) == 0 {
		return truncate(cleanText(pv.Details), maxMessage)
	}
	return truncate(strings.Join(parts, "; "), maxMessage)
}

// --- Queue and history ---

// QueueStatus is ComfyUI's queue, from [Client.QueueStatus].
type QueueStatus struct {
	// Running is the prompt being executed (ComfyUI runs one at a time).
	Running []QueueItem
	// Pending are the prompts waiting, in the order they will run.
	Pending []QueueItem
	// Remaining is ComfyUI's count of prompts left, running included
	// (exec_info.queue_remaining).
	Remaining int
}

// QueueItem is one prompt in ComfyUI's queue.
type QueueItem struct {
	// Number is the prompt's position number (lower runs first).
	Number int
	// PromptID identifies the prompt.
	PromptID string
	// ClientID is the client id the prompt was queued with, if any.
	ClientID string
}

// QueueStatus returns ComfyUI's queue (GET /queue) and its remaining count
// (GET /prompt). Items are read tolerantly: ComfyUI lists each as an array
// [number, prompt_id, prompt, extra_data, outputs_to_execute, …], and
// malformed items are skipped. Other servers return an error matching
// errors.ErrUnsupported.
func (c *Client) QueueStatus(ctx context.Context) (*QueueStatus, error) {
	if err := c.comfyOnly("QueueStatus"); err != nil {
		return nil, err
	}
	var q struct {
		Running json.RawMessage `json:"queue_running"`
		Pending json.RawMessage `json:"queue_pending"`
	}
	cl := newCall(http.MethodGet, "queue")
	cl.out = &comfyLenient{&q}
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	var p struct {
		ExecInfo struct {
			QueueRemaining comfyInt `json:"queue_remaining"`
		} `json:"exec_info"`
	}
	cl = newCall(http.MethodGet, "prompt")
	cl.out = &comfyLenient{&p}
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	st := &QueueStatus{
		Running:   comfyQueueItems(q.Running),
		Pending:   comfyQueueItems(q.Pending),
		Remaining: int(p.ExecInfo.QueueRemaining),
	}
	sort.SliceStable(st.Pending, func(i, j int) bool {
		a, b := st.Pending[i], st.Pending[j]
		if a.Number != b.Number {
			return a.Number < b.Number
		}
		return a.PromptID < b.PromptID
	})
	return st, nil
}

// comfyQueueItems decodes a list of queue items, skipping any that is not
// an array starting with a number and a non-empty prompt id string.
func comfyQueueItems(raw json.RawMessage) []QueueItem {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return []QueueItem{}
	}
	out := make([]QueueItem, 0, len(list))
	for _, item := range list {
		var fields []json.RawMessage
		if json.Unmarshal(item, &fields) != nil || len(fields) < 2 {
			continue
		}
		n, ok := comfyIntOf(fields[0])
		var id string
		if !ok || json.Unmarshal(fields[1], &id) != nil || id == "" {
			continue
		}
		qi := QueueItem{Number: int(n), PromptID: id}
		if len(fields) > 3 {
			var extra struct {
				ClientID string `json:"client_id"`
			}
			if json.Unmarshal(fields[3], &comfyLenient{&extra}) == nil {
				qi.ClientID = extra.ClientID
			}
		}
		out = append(out, qi)
	}
	return out
}

// PromptHistory is a finished prompt, from [Client.PromptHistory].
type PromptHistory struct {
	// PromptID identifies the prompt.
	PromptID string
	// Status is ComfyUI's status_str: "success" or "error" (an error or an
	// interrupt).
	Status string
	// Completed reports whether the prompt ran to the end.
	Completed bool
	// Outputs lists, by output node id, the files the node wrote: its
	// "images", and any other list of {filename, subfolder, type} objects
	// (gifs, audio, …).
	Outputs map[string][]OutputFile
}

// OutputFile is a file a ComfyUI node wrote; fetch it with GET /view
// (filename, subfolder, type as query parameters).
type OutputFile struct {
	Filename  string
	Subfolder string
	// Type is "output", "temp" or "input".
	Type string
}

// PromptHistory returns the history entry of a finished prompt (GET
// /history/{id}). ComfyUI answers {} for a prompt it has no history of
// (still queued, never queued, or deleted): that is an [*Error] matching
// [ErrNotFound] (with the status 200 the server sent). An id that could
// escape the path gives [ErrInvalidPath]. Other servers return an error
// matching errors.ErrUnsupported.
func (c *Client) PromptHistory(ctx context.Context, promptID string) (*PromptHistory, error) {
	if err := c.comfyOnly("PromptHistory"); err != nil {
		return nil, err
	}
	p, err := joinPath("history", promptID)
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	cl := newCall(http.MethodGet, p)
	cl.out = &all
	if err := c.send(ctx, cl); err != nil {
		return nil, err
	}
	raw, ok := all[promptID]
	if !ok {
		return nil, c.newError(cl.answer, cl.answer.Request, ErrNotFound, "ComfyUI has no history for this prompt (still queued, never queued, or deleted)")
	}
	var d struct {
		Outputs map[string]map[string]json.RawMessage `json:"outputs"`
		Status  struct {
			StatusStr string `json:"status_str"`
			Completed bool   `json:"completed"`
		} `json:"status"`
	}
	_ = json.Unmarshal(raw, &comfyLenient{&d})
	h := &PromptHistory{PromptID: promptID, Status: d.Status.StatusStr, Completed: d.Status.Completed,
		Outputs: map[string][]OutputFile{}}
	for node, out := range d.Outputs {
		kinds := make([]string, 0, len(out))
		for k := range out {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			var files []json.RawMessage
			if json.Unmarshal(out[k], &files) != nil {
				continue
			}
			for _, f := range files {
				var of struct {
					Filename  string `json:"filename"`
					Subfolder string `json:"subfolder"`
					Type      string `json:"type"`
				}
				if json.Unmarshal(f, &comfyLenient{&of}) == nil && of.Filename != "" {
					h.Outputs[node] = append(h.Outputs[node], OutputFile(of))
				}
			}
		}
	}
	return h, nil
}

// --- System ---

// SystemStats is a subset of ComfyUI's GET /system_stats.
type SystemStats struct {
	// OS is the operating system ("linux", "nt", "darwin").
	OS string
	// ComfyUIVersion, PythonVersion and PyTorchVersion are the versions
	// the server runs.
	ComfyUIVersion, PythonVersion, PyTorchVersion string
	// RAMTotal and RAMFree are the machine's memory in bytes.
	RAMTotal, RAMFree int64
	// Devices are the torch devices, the primary one first.
	Devices []Device
}

// Device is a torch device of a ComfyUI server, from [Client.SystemStats].
type Device struct {
	// Name is the device's description ("cuda:0 NVIDIA GeForce RTX 4090 :
	// cudaMallocAsync", "cpu"); Type its kind ("cuda", "cpu", "mps").
	Name, Type string
	// Index is the device index (0 for the CPU, which has none).
	Index int
	// VRAMTotal and VRAMFree are in bytes (the system memory for the CPU).
	VRAMTotal, VRAMFree int64
}

// SystemStats returns ComfyUI's system and device information (GET
// /system_stats). Other servers return an error matching
// errors.ErrUnsupported.
func (c *Client) SystemStats(ctx context.Context) (*SystemStats, error) {
	if err := c.comfyOnly("SystemStats"); err != nil {
		return nil, err
	}
	st, _, err := comfySystemStats(ctx, c)
	return st, err
}

// comfySystemStats returns the stats and the answer they came in.
func comfySystemStats(ctx context.Context, c *Client) (*SystemStats, *http.Response, error) {
	var d struct {
		System struct {
			OS             string   `json:"os"`
			RAMTotal       comfyInt `json:"ram_total"`
			RAMFree        comfyInt `json:"ram_free"`
			ComfyUIVersion string   `json:"comfyui_version"`
			PythonVersion  string   `json:"python_version"`
			PyTorchVersion string   `json:"pytorch_version"`
		} `json:"system"`
		Devices []json.RawMessage `json:"devices"`
	}
	cl := newCall(http.MethodGet, "system_stats")
	cl.out = &comfyLenient{&d}
	if err := c.send(ctx, cl); err != nil {
		return nil, nil, err
	}
	s := &SystemStats{OS: d.System.OS, ComfyUIVersion: d.System.ComfyUIVersion, PythonVersion: d.System.PythonVersion,
		PyTorchVersion: d.System.PyTorchVersion, RAMTotal: int64(d.System.RAMTotal), RAMFree: int64(d.System.RAMFree),
		Devices: []Device{}}
	for _, raw := range d.Devices {
		var dev struct {
			Name      string   `json:"name"`
			Type      string   `json:"type"`
			Index     comfyInt `json:"index"`
			VRAMTotal comfyInt `json:"vram_total"`
			VRAMFree  comfyInt `json:"vram_free"`
		}
		if !isJSONObject(raw) || json.Unmarshal(raw, &comfyLenient{&dev}) != nil {
			continue
		}
		s.Devices = append(s.Devices, Device{Name: dev.Name, Type: dev.Type, Index: int(dev.Index),
			VRAMTotal: int64(dev.VRAMTotal), VRAMFree: int64(dev.VRAMFree)})
	}
	return s, cl.answer, nil
}

// Interrupt stops execution on ComfyUI (POST /interrupt). With a promptID
// it stops that prompt only if it is the one running (otherwise nothing
// happens); with "" it stops whatever runs. Queued prompts stay queued.
// It is never retried: a repeated global interrupt could stop the next
// prompt. Other servers return an error matching errors.ErrUnsupported.
func (c *Client) Interrupt(ctx context.Context, promptID string) error {
	if err := c.comfyOnly("Interrupt"); err != nil {
		return err
	}
	cl := newCall(http.MethodPost, "interrupt") // POST: never retried
	if promptID != "" {
		if err := cl.jsonBody(map[string]string{"prompt_id": promptID}); err != nil {
			return err
		}
	}
	return c.send(ctx, cl)
}
