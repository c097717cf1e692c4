package authtest

// The ComfyUI fake's executor: it runs queued prompts by itself and sends
// ComfyUI's event sequence over /ws.

import (
	"encoding/binary"
	"encoding/json"
	"sort"
)

// ComfyJob makes the fake run queued prompts by itself, one at a time in
// queue order, as ComfyUI's prompt worker does (see [ComfyUI.RunPrompts]).
// The zero value runs each prompt at once, with 3 sampling steps.
type ComfyJob struct {
	// Steps is the number of sampling steps each KSampler node reports as
	// progress events; 0 means 3.
	Steps int
	// Step, if non-nil, holds every sampling step until a value is
	// received from it: the test decides how long a job takes, with no
	// timer. Nil runs the steps at once.
	Step <-chan struct{}
	// FailNode is the id of a node that raises when it runs: the prompt
	// ends with execution_error and history status "error".
	FailNode string
	// FailType and FailMessage are the exception's type and message;
	// defaults "RuntimeError" and "fake failure".
	FailType, FailMessage string
	// Previews sends a binary preview frame (type 1, JPEG) after each
	// sampling step.
	Previews bool
	// Image is the file each output node writes; nil writes a 1x1 PNG.
	Image []byte
}

// comfyJPEG is the preview the fake sends: the smallest JPEG markers.
var comfyJPEG = []byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0xff, 0xd9}

// RunPrompts switches the executor on: from now on every queued prompt
// (already pending ones too) runs by itself, in queue order, one at a time.
// For each prompt the fake sends, over /ws, the events ComfyUI sends, to
// the sockets ComfyUI sends them to (§4.3 of the wire notes: with a
// client_id, to the socket of that clientId only; without, progress,
// previews and execution_interrupted to every socket and the rest to
// nobody):
//
//	status (to all), execution_start, execution_cached,
//	for each node in dependency order: executing {node, display_node},
//	  for a KSampler Steps × progress {value, max, node} (+ a preview frame),
//	  for an output node executed {node, display_node, output: {"images": […]}},
//	execution_success | execution_error | execution_interrupted,
//	executing {node: null} (after the history entry is written), status (to all).
//
// A socket that connects with the client id of the running prompt gets,
// after the greeting, {"type": "executing", "data": {"node": "<node>"}}
// (no prompt_id), as ComfyUI sends. POST /interrupt stops the running prompt before its next node or step.
// Calling RunPrompts again replaces the job for the prompts that start
// after it. [ComfyUI.StartPrompt] and [ComfyUI.CompletePrompt] still work
// on prompts the executor has not picked up.
func (c *ComfyUI) RunPrompts(job ComfyJob) {
	if job.Steps <= 0 {
		job.Steps = 3
	}
	if job.FailType == "" {
		job.FailType = "RuntimeError"
	}
	if job.FailMessage == "" {
		job.FailMessage = "fake failure"
	}
	c.st.mu.Lock()
	start := c.st.job == nil
	c.st.job = &job
	c.st.mu.Unlock()
	if start {
		go c.executor()
	}
	c.st.wakeExecutor()
}

// DropWebSockets closes every open /ws connection without a close frame,
// as a proxy or a network failure does. Prompts keep running.
func (c *ComfyUI) DropWebSockets() {
	c.st.mu.Lock()
	socks := make([]*comfySocket, 0, len(c.st.sockets))
	for _, s := range c.st.sockets {
		socks = append(socks, s)
	}
	c.st.mu.Unlock()
	for _, s := range socks {
		_ = s.conn.Close()
	}
}

// wakeExecutor tells the executor to look at the queue.
func (st *comfyState) wakeExecutor() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// executor is ComfyUI's prompt worker.
func (c *ComfyUI) executor() {
	for {
		select {
		case <-c.st.done:
			return
		case <-c.st.wake:
		}
		for {
			c.st.mu.Lock()
			if c.st.closed || len(c.st.pending) == 0 || len(c.st.running) > 0 {
				c.st.mu.Unlock()
				break
			}
			it := c.st.removePending(c.st.pending[0].id)
			c.st.running = append(c.st.running, it)
			job := *c.st.job
			intr := make(chan struct{})
			c.st.interrupt = intr
			c.st.mu.Unlock()
			c.run(it, job, intr)
		}
	}
}

// run executes one prompt.
func (c *ComfyUI) run(it *comfyItem, job ComfyJob, intr <-chan struct{}) {
	st := c.st
	sid := ""
	if v, ok := it.extra.get("client_id"); ok && comfyKind(v) == '"' {
		_ = json.Unmarshal(v, &sid)
	}
	pid := it.id
	ms := func() int64 { return st.clock.Now().UnixMilli() }
	c.broadcastStatus()
	start := comfyObject{{"prompt_id", pid}, {"timestamp", ms()}}
	cached := comfyObject{{"nodes", []any{}}, {"prompt_id", pid}, {"timestamp", ms()}}
	c.emit(sid, false, "execution_start", start)
	c.emit(sid, false, "execution_cached", cached)
	messages := []any{[]any{"execution_start", start}, []any{"execution_cached", cached}}

	outputs, meta := comfyObject{}, comfyObject{}
	executed := []any{}
	stopped := func() bool {
		select {
		case <-intr:
			return true
		default:
			return false
		}
	}
	var end string
	var endData comfyObject
	var failed *comfyNode
	for _, n := range it.topoOrder() {
		if stopped() {
			end, failed = "execution_interrupted", n
			break
		}
		st.mu.Lock()
		st.runSID, st.runNode = sid, n.id
		st.mu.Unlock()
		c.emit(sid, false, "executing", comfyObject{{"node", n.id}, {"display_node", n.id}, {"prompt_id", pid}})
		if n.class == "KSampler" {
			for i := 1; i <= job.Steps && end == ""; i++ {
				if job.Step != nil {
					select {
					case <-job.Step:
					case <-intr:
						end, failed = "execution_interrupted", n
					case <-st.done:
						return
					}
				} else if stopped() {
					end, failed = "execution_interrupted", n
				}
				if end != "" {
					break
				}
				c.emit(sid, true, "progress", comfyObject{{"value", i}, {"max", job.Steps}, {"prompt_id", pid}, {"node", n.id}})
				if job.Previews {
					frame := binary.BigEndian.AppendUint32(nil, 1)
					frame = binary.BigEndian.AppendUint32(frame, 1)
					c.emitBinary(sid, append(frame, comfyJPEG...))
				}
			}
			if end != "" {
				break
			}
		}
		if n.id == job.FailNode {
			end, failed = "execution_error", n
			break
		}
		if n.class == "SaveImage" || n.class == "PreviewImage" {
			st.mu.Lock()
			img := st.saveImageWith(n, pid, job.Image)
			st.mu.Unlock()
			out := comfyObject{{"images", []any{img}}}
			outputs = outputs.set(n.id, out)
			meta = meta.set(n.id, comfyObject{{"node_id", n.id}, {"display_node", n.id}, {"parent_node", nil}, {"real_node_id", n.id}})
			c.emit(sid, false, "executed", comfyObject{{"node", n.id}, {"display_node", n.id}, {"output", out}, {"prompt_id", pid}})
		}
		executed = append(executed, n.id)
	}
	status := "success"
	switch end {
	case "":
		end, endData = "execution_success", comfyObject{{"prompt_id", pid}, {"timestamp", ms()}}
	case "execution_error":
		status = "error"
		endData = comfyObject{{"prompt_id", pid}, {"node_id", failed.id}, {"node_type", failed.class},
			{"executed", executed}, {"exception_message", job.FailMessage}, {"exception_type", job.FailType},
			{"traceback", []any{"Traceback (most recent call last):\n", "  File \"execution.py\", line 496, in execute\n",
				job.FailType + ": " + job.FailMessage + "\n"}},
			{"current_inputs", comfyObject{}}, {"current_outputs", []any{}}, {"timestamp", ms()}}
	default:
		status = "error"
		endData = comfyObject{{"prompt_id", pid}, {"node_id", failed.id}, {"node_type", failed.class},
			{"executed", executed}, {"timestamp", ms()}}
	}
	c.emit(sid, end == "execution_interrupted", end, endData)
	messages = append(messages, []any{end, endData})
	st.mu.Lock()
	st.interrupt, st.runSID, st.runNode = nil, "", ""
	if st.removeRunning(pid) != nil {
		st.addHistory(&comfyHistory{item: it, outputs: outputs, meta: meta, status: comfyObject{
			{"status_str", status}, {"completed", status == "success"}, {"messages", messages}}})
	}
	st.mu.Unlock()
	c.emit(sid, false, "executing", comfyObject{{"node", nil}, {"prompt_id", pid}})
	c.broadcastStatus()
}

// stopRunning is what /interrupt does: with the executor on, it signals
// the prompt it runs; otherwise the running prompt goes to history at once.
// Callers hold st.mu.
func (st *comfyState) stopRunning() {
	if st.job != nil && st.interrupt != nil {
		close(st.interrupt)
		st.interrupt = nil
		return
	}
	if st.job == nil {
		st.interruptRunning()
	}
}

// topoOrder lists the prompt's nodes so that each comes after the nodes
// its inputs link to (ties by id).
func (it *comfyItem) topoOrder() []*comfyNode {
	byID := map[string]*comfyNode{}
	ids := make([]string, 0, len(it.nodes))
	for _, n := range it.nodes {
		byID[n.id] = n
		ids = append(ids, n.id)
	}
	sort.Strings(ids)
	state := map[string]int{} // 1 visiting, 2 done
	var out []*comfyNode
	var visit func(id string)
	visit = func(id string) {
		n := byID[id]
		if n == nil || state[id] != 0 {
			return
		}
		state[id] = 1
		for _, kv := range n.inputs {
			raw, _ := n.inputs.get(kv.K)
			var link []json.RawMessage
			if json.Unmarshal(raw, &link) == nil && len(link) == 2 {
				var dep string
				if json.Unmarshal(link[0], &dep) == nil {
					visit(dep)
				}
			}
		}
		state[id] = 2
		out = append(out, n)
	}
	for _, id := range ids {
		visit(id)
	}
	return out
}

// broadcastStatus sends the status message to every socket.
func (c *ComfyUI) broadcastStatus() {
	c.st.mu.Lock()
	remaining := len(c.st.pending) + len(c.st.running)
	c.st.mu.Unlock()
	c.emit("", true, "status", comfyObject{{"status", comfyObject{{"exec_info", comfyObject{{"queue_remaining", remaining}}}}}})
}

// emit sends a JSON event: to the socket of client id sid, or, with no
// sid, to every socket when all is set and to nobody otherwise.
func (c *ComfyUI) emit(sid string, all bool, event string, data any) {
	b, err := comfyMarshalPython(comfyObject{{"type", event}, {"data", data}})
	if err != nil {
		return
	}
	for _, s := range c.st.targets(sid, all) {
		_ = s.write(0x1, b)
	}
}

// emitBinary sends a binary frame, routed like progress events.
func (c *ComfyUI) emitBinary(sid string, frame []byte) {
	for _, s := range c.st.targets(sid, true) {
		_ = s.write(0x2, frame)
	}
}

// targets are the sockets a message for sid goes to.
func (st *comfyState) targets(sid string, all bool) []*comfySocket {
	st.mu.Lock()
	defer st.mu.Unlock()
	if sid != "" {
		if s := st.bySID[sid]; s != nil {
			return []*comfySocket{s}
		}
		return nil
	}
	if !all {
		return nil
	}
	out := make([]*comfySocket, 0, len(st.sockets))
	for _, s := range st.sockets {
		out = append(out, s)
	}
	return out
}
