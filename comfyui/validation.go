package comfyui

import (
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/selfhost-sdk/authclient"
)

// ValidationError is ComfyUI's explanation of a prompt it refused (the 400
// answer to POST /prompt), from [ValidationDetails]. It is a description,
// not an error value: the error is the [*authclient.Error] it came from.
// Its texts are the server's own, unfiltered: print them with care.
type ValidationError struct {
	// Type is ComfyUI's error type, also in [authclient.Error.Code]:
	// "prompt_outputs_failed_validation", "prompt_no_outputs",
	// "invalid_prompt", "invalid_prompt_id", "no_prompt", …
	Type string
	// Message is ComfyUI's message, also in [authclient.Error.Message].
	Message string
	// Details is ComfyUI's details text (for invalid_prompt, the node:
	// "Node ID '#3'").
	Details string
	// Nodes lists the failing node inputs, one entry per error, ordered by
	// node id (numerically where ids are numbers).
	Nodes []NodeError
}

// NodeError is one validation error of one node of a refused prompt (one
// entry of ComfyUI's node_errors), in a [ValidationError].
type NodeError struct {
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

// ValidationDetails returns the details of a prompt ComfyUI refused, from
// an error returned by [Client.QueuePrompt] (or by a POST /prompt through
// the core's Do). It reads them from the [*authclient.Error]'s Body and
// reports false for any other error, or an error of another server.
func ValidationDetails(err error) (*ValidationError, bool) {
	var e *authclient.Error
	if !errors.As(err, &e) || e.Server != authclient.ComfyUI {
		return nil, false
	}
	return parseValidation(e.Body)
}

// validationHint summarises a refused prompt's failing nodes for
// [authclient.Error.Hint] (the core masks and bounds it).
func validationHint(body []byte) string {
	v, ok := parseValidation(body)
	if !ok {
		return ""
	}
	return v.summary()
}

// parseValidation reads {"error": {"type", "message", "details"},
// "node_errors": {id: {"errors": [...], "class_type"}}} tolerantly.
func parseValidation(body []byte) (*ValidationError, bool) {
	var d struct {
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Details string `json:"details"`
		} `json:"error"`
		NodeErrors map[string]json.RawMessage `json:"node_errors"`
	}
	if json.Unmarshal(body, &lenient{&d}) != nil || d.Error == nil || d.Error.Type == "" {
		return nil, false
	}
	v := &ValidationError{Type: d.Error.Type, Message: d.Error.Message, Details: d.Error.Details}
	ids := make([]string, 0, len(d.NodeErrors))
	for id := range d.NodeErrors {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
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
		if json.Unmarshal(d.NodeErrors[id], &lenient{&n}) != nil {
			continue
		}
		for _, r := range n.Errors {
			v.Nodes = append(v.Nodes, NodeError{NodeID: id, ClassType: n.ClassType, Type: r.Type,
				Message: r.Message, Details: r.Details, Input: r.ExtraInfo.InputName})
		}
	}
	return v, true
}

// idLess orders node ids numerically where both are numbers.
func idLess(a, b string) bool {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	if aerr == nil && berr == nil {
		return ai < bi
	}
	return a < b
}

// maxHint bounds the summary; the core bounds the hint again.
const maxHint = 300

// summary is a short one-line account of the failing nodes (the first
// error of each of the first three), or the details.
func (v *ValidationError) summary() string {
	const maxNodes = 3
	var parts []string
	seen := map[string]bool{}
	more := 0
	for _, n := range v.Nodes {
		if seen[n.NodeID] {
			continue
		}
		seen[n.NodeID] = true
		if len(parts) == maxNodes {
			more++
			continue
		}
		s := "node " + authclient.OneLine(n.NodeID, 20)
		if n.ClassType != "" {
			s += " (" + authclient.OneLine(n.ClassType, 40) + ")"
		}
		s += ": " + authclient.OneLine(n.Message, 60)
		if d := authclient.OneLine(n.Details, 0); d != "" {
			s += ": " + authclient.OneLine(d, 60)
		}
		parts = append(parts, s)
	}
	if more > 0 {
		parts = append(parts, "and "+strconv.Itoa(more)+" more node(s)")
	}
	if len(parts) == 0 {
		return authclient.OneLine(v.Details, maxHint)
	}
	return authclient.OneLine(strings.Join(parts, "; "), maxHint)
}
