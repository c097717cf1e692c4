package comfyui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/selfhost-sdk/authclient"
)

// ErrExecution is matched (errors.Is) by every [*ExecutionError].
var ErrExecution = errors.New("comfyui: the prompt failed")

// ErrInterrupted is matched (errors.Is) by every [*InterruptedError].
var ErrInterrupted = errors.New("comfyui: the prompt was interrupted")

// ErrSocketClosed is matched by the [*SocketError] of a /ws connection that
// closed or broke while it was read.
var ErrSocketClosed = errors.New("comfyui: websocket closed")

// ExecutionError is a prompt that failed while it ran (ComfyUI's
// execution_error), from [Client.Wait] or an [Event]. Its texts are the
// server's, with the client's credentials masked.
type ExecutionError struct {
	// PromptID is the prompt that failed.
	PromptID string
	// NodeID and NodeType are the node that raised ("8", "VAEDecode").
	NodeID, NodeType string
	// ExceptionType is the Python exception's type
	// ("torch.OutOfMemoryError", "RuntimeError", "ExecutionBlocked").
	ExceptionType string
	// Message is the exception's message.
	Message string
	// Traceback is the Python traceback, one line per element.
	Traceback []string
}

// Error returns "comfyui: prompt <id> failed in node <id> (<type>):
// <exception type>: <message>", the message on one line and bounded.
func (e *ExecutionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "comfyui: prompt %s failed in node %s", authclient.OneLine(e.PromptID, 64), authclient.OneLine(e.NodeID, 64))
	if e.NodeType != "" {
		fmt.Fprintf(&b, " (%s)", authclient.OneLine(e.NodeType, 100))
	}
	b.WriteString(": ")
	if e.ExceptionType != "" {
		b.WriteString(authclient.OneLine(e.ExceptionType, 100) + ": ")
	}
	b.WriteString(authclient.OneLine(e.Message, 300))
	return b.String()
}

// Is reports whether target is [ErrExecution].
func (e *ExecutionError) Is(target error) bool { return target == ErrExecution }

// InterruptedError is a prompt that was interrupted while it ran
// (ComfyUI's execution_interrupted), from [Client.Wait].
type InterruptedError struct {
	// PromptID is the prompt; NodeID and NodeType the node it stopped in.
	PromptID, NodeID, NodeType string
}

// Error returns "comfyui: prompt <id> was interrupted in node <id>".
func (e *InterruptedError) Error() string {
	s := "comfyui: prompt " + authclient.OneLine(e.PromptID, 64) + " was interrupted"
	if e.NodeID != "" {
		s += " in node " + authclient.OneLine(e.NodeID, 64)
	}
	return s
}

// Is reports whether target is [ErrInterrupted].
func (e *InterruptedError) Is(target error) bool { return target == ErrInterrupted }

// SocketError is a failure of ComfyUI's /ws WebSocket: a dial the server
// refused (StatusCode set; it matches [authclient.ErrUnauthorized] on 401,
// [authclient.ErrForbidden] on 403, [authclient.ErrNotFound] on 404), a
// dial that failed, or a connection that closed or broke while it was read
// ([ErrSocketClosed]).
type SocketError struct {
	// Op is "dial" or "read".
	Op string
	// StatusCode is the HTTP status of a refused upgrade, else 0.
	StatusCode int
	// Err is the cause (the websocket library's error, with the
	// client's credentials masked in its text).
	Err      error
	sentinel error
}

// Error returns "comfyui: websocket <op>: <cause>".
func (e *SocketError) Error() string {
	s := "comfyui: websocket " + e.Op
	if e.StatusCode != 0 {
		s += fmt.Sprintf(": status %d", e.StatusCode)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause and the sentinel the failure matches.
func (e *SocketError) Unwrap() []error {
	var out []error
	if e.Err != nil {
		out = append(out, e.Err)
	}
	if e.sentinel != nil {
		out = append(out, e.sentinel)
	}
	return out
}

// maskedError is an error whose text was masked; it unwraps to the
// original for errors.Is (context.Canceled, io.EOF).
type maskedError struct {
	text string
	err  error
}

func (e *maskedError) Error() string { return e.text }
func (e *maskedError) Unwrap() error { return e.err }
