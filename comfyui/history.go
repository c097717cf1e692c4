package comfyui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode"

	"github.com/selfhost-sdk/authclient"
)

// ErrNoHistory is returned by [Client.History] when ComfyUI has no history
// of the prompt: it is still queued, was never queued, or was deleted
// (ComfyUI answers {} with status 200). It matches
// [authclient.ErrNotFound] too.
var ErrNoHistory = fmt.Errorf("comfyui: no history for the prompt (still queued, never queued, or deleted): %w", authclient.ErrNotFound)

// History is a finished prompt, from [Client.History].
type History struct {
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
	// Filename is the file's name, Subfolder the folder it is in.
	Filename  string
	Subfolder string
	// Type is "output", "temp" or "input".
	Type string
}

// History returns ComfyUI's history entry of a finished prompt (GET
// /history/{id}). A prompt ComfyUI has no history of gives [ErrNoHistory]
// (matching [authclient.ErrNotFound]). An id that is empty, contains "/",
// a backslash or a control character, or is a dot segment in any encoding
// gives an error matching [authclient.ErrInvalidPath] and nothing is sent.
func (c *Client) History(ctx context.Context, promptID string) (*History, error) {
	if promptID == "" || strings.ContainsAny(promptID, "/\\") || strings.ContainsFunc(promptID, unicode.IsControl) {
		return nil, fmt.Errorf("comfyui: History: the prompt id must be non-empty and not contain \"/\", a backslash or a control character: %w",
			authclient.ErrInvalidPath)
	}
	var all map[string]json.RawMessage
	// The core refuses "." and ".." segments in any encoding.
	if err := c.do(ctx, http.MethodGet, "history/"+url.PathEscape(promptID), nil, &all); err != nil {
		return nil, err
	}
	raw, ok := all[promptID]
	if !ok {
		return nil, ErrNoHistory
	}
	return historyOf(promptID, raw), nil
}

// historyOf decodes a history entry, tolerantly.
func historyOf(promptID string, raw json.RawMessage) *History {
	var d struct {
		Outputs map[string]map[string]json.RawMessage `json:"outputs"`
		Status  struct {
			StatusStr string `json:"status_str"`
			Completed bool   `json:"completed"`
		} `json:"status"`
	}
	_ = json.Unmarshal(raw, &lenient{&d})
	h := &History{PromptID: promptID, Status: d.Status.StatusStr, Completed: d.Status.Completed,
		Outputs: map[string][]OutputFile{}}
	for node, out := range d.Outputs {
		if files := filesOf(out); len(files) > 0 {
			h.Outputs[node] = files
		}
	}
	return h
}

// filesOf lists, in the order of their kind, the {filename, subfolder,
// type} objects of a node's UI output ("images", "gifs", "audio", …).
func filesOf(out map[string]json.RawMessage) []OutputFile {
	kinds := make([]string, 0, len(out))
	for k := range out {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var files []OutputFile
	for _, k := range kinds {
		var list []json.RawMessage
		if json.Unmarshal(out[k], &list) != nil {
			continue
		}
		for _, f := range list {
			var of struct {
				Filename  string `json:"filename"`
				Subfolder string `json:"subfolder"`
				Type      string `json:"type"`
			}
			if json.Unmarshal(f, &lenient{&of}) == nil && of.Filename != "" {
				files = append(files, OutputFile(of))
			}
		}
	}
	return files
}
