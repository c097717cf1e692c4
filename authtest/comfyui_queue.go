package authtest

// The ComfyUI fake's prompt queue: /prompt (with validation), /queue,
// /history, /interrupt and /free, and the queue's heap.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

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
	c.st.wakeExecutor()
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
			c.st.stopRunning()
		}
	} else {
		c.st.stopRunning()
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

// saveImage names and stores the image an output node writes. Callers
// hold st.mu.
func (st *comfyState) saveImage(n *comfyNode, promptID string) comfyObject {
	return st.saveImageWith(n, promptID, nil)
}

// saveImageWith is saveImage writing data (nil: a 1x1 PNG).
func (st *comfyState) saveImageWith(n *comfyNode, promptID string, data []byte) comfyObject {
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
	if data == nil {
		data = comfyPNG
	}
	st.putFile(typ, subfolder, name, data)
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

// The heap is Python's heapq on (number, prompt_id) tuples, so queue_pending
// comes out in the same order as on the real server.
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
