package comfyui

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/selfhost-sdk/authclient"
)

// FileInfo describes a file fetched with [Client.Download] or
// [Client.Open].
type FileInfo struct {
	// ContentType is the server's Content-Type ("image/png", …).
	ContentType string
	// Size is the length in bytes the server announced, or -1 when it
	// announced none.
	Size int64
}

// File is an open download from [Client.Open]: read it, then close it.
type File struct {
	io.ReadCloser
	FileInfo
}

type viewQuery struct {
	Filename  string `url:"filename"`
	Subfolder string `url:"subfolder"`
	Type      string `url:"type"`
}

// Download writes the ComfyUI file f (an output, preview, temp or input file) to w
// (GET /view?filename=&subfolder=&type=), streamed in constant memory, and
// returns its content type and size. An empty Type means "output".
//
// A file ComfyUI does not have is an [*authclient.Error] matching
// [authclient.ErrNotFound]; a wrong key one matching
// [authclient.ErrUnauthorized]; w's own failure an [*authclient.WriteError].
// A redirect to another origin is refused and carries no credential. An f
// without Filename, with a control character, or with an unknown Type is a
// [*authclient.ConfigError] and nothing is sent.
func (c *Client) Download(ctx context.Context, f OutputFile, w io.Writer) (*FileInfo, error) {
	q, err := viewOf(f)
	if err != nil {
		return nil, err
	}
	if w == nil {
		return nil, &authclient.ConfigError{Setting: "comfyui.Download", Problem: "the io.Writer is nil"}
	}
	var m authclient.Meta
	if err := c.do(ctx, http.MethodGet, "view", nil, w, authclient.Query(q), authclient.ResponseMeta(&m)); err != nil {
		return nil, err
	}
	return infoOf(m.Header), nil
}

// Open is [Client.Download] of a ComfyUI file as an io.ReadCloser: the answer's body, with
// its content type and size, for a caller that reads it itself. Close it.
func (c *Client) Open(ctx context.Context, f OutputFile) (*File, error) {
	q, err := viewOf(f)
	if err != nil {
		return nil, err
	}
	if c == nil || c.core == nil {
		return nil, &authclient.ConfigError{Setting: "comfyui.Client", Problem: "not made with comfyui.New, NewFromEnv or Wrap"}
	}
	resp, err := c.core.Stream(ctx, http.MethodGet, "view", nil, authclient.Query(q))
	if err != nil {
		return nil, err
	}
	return &File{ReadCloser: resp.Body, FileInfo: *infoOf(resp.Header)}, nil
}

// viewOf checks f and makes its /view query.
func viewOf(f OutputFile) (viewQuery, error) {
	typ := f.Type
	if typ == "" {
		typ = "output"
	}
	switch {
	case f.Filename == "":
		return viewQuery{}, &authclient.ConfigError{Setting: "comfyui.OutputFile.Filename", Problem: "is empty"}
	case strings.ContainsFunc(f.Filename+f.Subfolder, unicode.IsControl):
		return viewQuery{}, &authclient.ConfigError{Setting: "comfyui.OutputFile", Problem: "the filename or subfolder contains a control character"}
	case !validType(typ):
		return viewQuery{}, &authclient.ConfigError{Setting: "comfyui.OutputFile.Type", Problem: `must be "", "output", "input" or "temp"`}
	}
	return viewQuery{Filename: f.Filename, Subfolder: f.Subfolder, Type: typ}, nil
}

// infoOf reads the content type and size of an answer.
func infoOf(h http.Header) *FileInfo {
	fi := &FileInfo{ContentType: authclient.OneLine(h.Get("Content-Type"), 200), Size: -1}
	if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		fi.Size = n
	}
	return fi
}
