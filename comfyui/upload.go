package comfyui

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode"

	"github.com/selfhost-sdk/authclient"
)

// UploadOptions says where ComfyUI stores an upload.
type UploadOptions struct {
	// Type is the directory: "input" (the default, for LoadImage), "temp"
	// or "output".
	Type string
	// Subfolder is a folder inside it, created if missing; "" for none.
	Subfolder string
	// Overwrite replaces a file of the same name. Without it ComfyUI keeps
	// the existing file and stores the upload as "name (1).png", … (or
	// reuses the name when the bytes are the same).
	Overwrite bool
}

// Uploaded is a file ComfyUI stored, from [Client.UploadImage] and
// [Client.UploadMask].
type Uploaded struct {
	// Name is the name the server stored the file under: the name sent,
	// or a renamed one on a collision. Use it (with Subfolder) in a
	// LoadImage node's "image" input.
	Name string
	// Subfolder and Type are where it is.
	Subfolder string
	Type      string
}

// File returns the uploaded file as an [OutputFile], for [Client.Download]
// or as the original of [Client.UploadMask].
func (u *Uploaded) File() OutputFile {
	return OutputFile{Filename: u.Name, Subfolder: u.Subfolder, Type: u.Type}
}

// UploadImage uploads an image to ComfyUI (POST /upload/image) read from r, streamed
// as a multipart body (constant memory, whatever the size), under the file
// name name. It returns the name ComfyUI stored it under, which differs
// from name when a different file of that name exists and o.Overwrite is
// not set.
//
// name must be a plain file name (no "/", backslash or control character)
// and o.Type "", "input", "temp" or "output", or it is a
// [*authclient.ConfigError] and nothing is sent. The call is retried only
// if r is an [io.Seeker]. A wrong key is an [*authclient.Error] matching
// [authclient.ErrUnauthorized]; ComfyUI's refusals (a subfolder that leaves
// the directory: 400; a body over --max-upload-size: 413) are
// [*authclient.Error] too.
func (c *Client) UploadImage(ctx context.Context, name string, r io.Reader, o UploadOptions) (*Uploaded, error) {
	form, err := uploadForm("comfyui.UploadImage", name, r, o)
	if err != nil {
		return nil, err
	}
	return c.upload(ctx, "upload/image", form, r)
}

// UploadMask uploads a mask for an image ComfyUI already has (POST
// /upload/mask): the server takes the alpha channel of the image read from
// r and writes original with that alpha under name, where o says. original
// is the image the mask belongs to (an [OutputFile] from a history, or
// [Uploaded.File]); its Type defaults to "output", as in ComfyUI.
//
// ComfyUI answers 200 even when it wrote nothing (the original does not
// exist, or its reference is refused): check with [Client.Download] when
// that matters. Arguments are checked as for [Client.UploadImage], and the
// original's Filename must be non-empty.
func (c *Client) UploadMask(ctx context.Context, name string, r io.Reader, original OutputFile, o UploadOptions) (*Uploaded, error) {
	if original.Filename == "" {
		return nil, &authclient.ConfigError{Setting: "comfyui.UploadMask", Problem: "the original image has no Filename"}
	}
	if original.Type != "" && !validType(original.Type) {
		return nil, &authclient.ConfigError{Setting: "comfyui.UploadMask", Problem: `the original's Type must be "output", "input" or "temp"`}
	}
	form, err := uploadForm("comfyui.UploadMask", name, r, o)
	if err != nil {
		return nil, err
	}
	ref, _ := json.Marshal(struct {
		Filename  string `json:"filename"`
		Subfolder string `json:"subfolder"`
		Type      string `json:"type,omitempty"`
	}{original.Filename, original.Subfolder, original.Type})
	form.Field("original_ref", string(ref))
	return c.upload(ctx, "upload/mask", form, r)
}

// upload posts the form and reads ComfyUI's answer.
func (c *Client) upload(ctx context.Context, p string, form *authclient.Form, r io.Reader) (*Uploaded, error) {
	var opts []authclient.CallOption
	if _, ok := r.(io.Seeker); ok {
		opts = append(opts, authclient.Idempotent()) // the same bytes again keep the same name
	}
	var d struct {
		Name      string `json:"name"`
		Subfolder string `json:"subfolder"`
		Type      string `json:"type"`
	}
	if err := c.do(ctx, http.MethodPost, p, form, &lenient{&d}, opts...); err != nil {
		return nil, err
	}
	return &Uploaded{Name: d.Name, Subfolder: d.Subfolder, Type: d.Type}, nil
}

// uploadForm checks the arguments and builds the multipart body.
func uploadForm(setting, name string, r io.Reader, o UploadOptions) (*authclient.Form, error) {
	switch {
	case name == "" || strings.ContainsAny(name, "/\\") || strings.ContainsFunc(name, unicode.IsControl) || name == "." || name == "..":
		return nil, &authclient.ConfigError{Setting: setting, Problem: "the name must be a plain file name (no \"/\", backslash or control character)"}
	case r == nil:
		return nil, &authclient.ConfigError{Setting: setting, Problem: "the reader is nil"}
	case o.Type != "" && !validType(o.Type):
		return nil, &authclient.ConfigError{Setting: setting + ".Type", Problem: `must be "", "input", "temp" or "output"`}
	case strings.ContainsFunc(o.Subfolder, unicode.IsControl):
		return nil, &authclient.ConfigError{Setting: setting + ".Subfolder", Problem: "contains a control character"}
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	f := authclient.NewForm().File("image", name, ct, r)
	if o.Type != "" {
		f.Field("type", o.Type)
	}
	if o.Subfolder != "" {
		f.Field("subfolder", o.Subfolder)
	}
	if o.Overwrite {
		f.Field("overwrite", "true")
	}
	return f, nil
}

// validType reports whether t names one of ComfyUI's directories.
func validType(t string) bool { return t == "input" || t == "temp" || t == "output" }
