package authtest

// The ComfyUI fake's file store: POST /upload/image, POST /upload/mask and
// GET /view, over an in-memory input, temp and output directory.

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// comfyFile is one stored file.
type comfyFile struct {
	data    []byte
	sum     [32]byte
	modTime time.Time
}

// comfyPNG is the image the fake's output nodes write: a valid 1x1 PNG.
var comfyPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" +
	"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

// comfyFileKey names a file of the store.
func comfyFileKey(typ, subfolder, name string) string {
	return typ + "\x00" + subfolder + "\x00" + name
}

// comfyCleanSubfolder is ComfyUI's join of subfolder to the type directory
// and its commonpath check: the cleaned subfolder ("" for the directory
// itself), or ok false when it leaves the directory.
func comfyCleanSubfolder(subfolder string) (string, bool) {
	if strings.HasPrefix(subfolder, "/") || strings.HasPrefix(subfolder, "\\") {
		return "", false
	}
	clean := path.Clean(strings.ReplaceAll(subfolder, "\\", "/"))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", false
	}
	if clean == "." {
		clean = ""
	}
	return clean, true
}

// comfyDirType reports whether typ names one of ComfyUI's directories.
func comfyDirType(typ string) bool { return typ == "input" || typ == "temp" || typ == "output" }

// PutFile stores data as the file name in subfolder of the directory typ
// ("input", "temp" or "output"), as if a node had written it: GET /view
// serves it. It panics on an unknown typ or a subfolder that leaves the
// directory (a bug in the test).
func (c *ComfyUI) PutFile(typ, subfolder, name string, data []byte) {
	sub, ok := comfyCleanSubfolder(subfolder)
	if !comfyDirType(typ) || !ok || name == "" || strings.ContainsAny(name, "/\\") {
		panic(fmt.Sprintf("authtest: ComfyUI.PutFile: bad file %q/%q/%q", typ, subfolder, name))
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	c.st.putFile(typ, sub, name, data)
}

// File returns the bytes of a stored file (uploaded, or written by a
// prompt), and whether it exists.
func (c *ComfyUI) File(typ, subfolder, name string) ([]byte, bool) {
	sub, _ := comfyCleanSubfolder(subfolder)
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	f, ok := c.st.files[comfyFileKey(typ, sub, name)]
	if !ok {
		return nil, false
	}
	return bytes.Clone(f.data), true
}

// putFile stores a file. Callers hold st.mu.
func (st *comfyState) putFile(typ, sub, name string, data []byte) {
	st.files[comfyFileKey(typ, sub, name)] = &comfyFile{data: data, sum: sha256.Sum256(data), modTime: st.clock.Now()}
}

// comfyUpload is a parsed upload form.
type comfyUpload struct {
	filename  string
	data      []byte
	fields    map[string]string
	haveImage bool
}

// readUpload reads the multipart form as aiohttp's request.post() does,
// bounded by --max-upload-size. status is non-zero on failure.
func readUpload(w http.ResponseWriter, r *http.Request) (*comfyUpload, int) {
	r.Body = http.MaxBytesReader(w, r.Body, comfyMaxBody)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, http.StatusInternalServerError
	}
	up := &comfyUpload{fields: map[string]string{}}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge
		}
		if err != nil {
			return nil, http.StatusInternalServerError
		}
		b, err := io.ReadAll(p)
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge
		}
		if err != nil {
			return nil, http.StatusInternalServerError
		}
		if p.FormName() == "image" && p.FileName() != "" {
			up.filename, up.data, up.haveImage = p.FileName(), b, true
		} else if p.FileName() == "" {
			up.fields[p.FormName()] = string(b)
		}
	}
	return up, 0
}

// uploadTarget is ComfyUI's image_upload up to the name choice: the
// directory, subfolder and final name, or a status on failure. Callers
// hold st.mu.
func (st *comfyState) uploadTarget(up *comfyUpload) (typ, sub, name string, status int) {
	if !up.haveImage || up.filename == "" {
		return "", "", "", http.StatusBadRequest
	}
	typ = up.fields["type"]
	if typ == "" {
		typ = "input"
	}
	if !comfyDirType(typ) {
		return "", "", "", http.StatusInternalServerError // the directory variable is unset: Python raises
	}
	sub, ok := comfyCleanSubfolder(up.fields["subfolder"])
	if !ok {
		return "", "", "", http.StatusBadRequest
	}
	name = path.Base(strings.ReplaceAll(up.filename, "\\", "/"))
	overwrite := up.fields["overwrite"] == "true" || up.fields["overwrite"] == "1"
	if !overwrite {
		sum := sha256.Sum256(up.data)
		ext := path.Ext(name)
		base := strings.TrimSuffix(name, ext)
		for i := 1; ; i++ {
			f, exists := st.files[comfyFileKey(typ, sub, name)]
			if !exists || f.sum == sum {
				break
			}
			name = fmt.Sprintf("%s (%d)%s", base, i, ext)
		}
	}
	return typ, sub, name, 0
}

// postUploadImage is POST /upload/image.
func (c *ComfyUI) postUploadImage(w http.ResponseWriter, r *http.Request) {
	up, status := readUpload(w, r)
	if status != 0 {
		comfyUploadFail(w, status)
		return
	}
	c.st.mu.Lock()
	typ, sub, name, status := c.st.uploadTarget(up)
	if status == 0 {
		c.st.putFile(typ, sub, name, up.data)
		c.st.uploads++
	}
	c.st.mu.Unlock()
	if status != 0 {
		comfyUploadFail(w, status)
		return
	}
	comfyWriteJSON(w, http.StatusOK, comfyObject{{"name", name}, {"subfolder", up.fields["subfolder"]}, {"type", typ}})
}

// postUploadMask is POST /upload/mask: the fake writes the mask's bytes as
// the composited image when the original exists (it does not composite
// alpha channels), and, as ComfyUI, answers 200 without writing anything
// when the original is missing or its reference is bad.
func (c *ComfyUI) postUploadMask(w http.ResponseWriter, r *http.Request) {
	up, status := readUpload(w, r)
	if status != 0 {
		comfyUploadFail(w, status)
		return
	}
	ref, ok := up.fields["original_ref"]
	var orig struct {
		Filename  string `json:"filename"`
		Subfolder string `json:"subfolder"`
		Type      string `json:"type"`
	}
	if !ok || json.Unmarshal([]byte(ref), &orig) != nil {
		comfyWrite500(w) // json.loads(None) or of bad JSON raises
		return
	}
	c.st.mu.Lock()
	typ, sub, name, status := c.st.uploadTarget(up)
	if status == 0 {
		otyp, oname := orig.Type, orig.Filename
		if otyp == "" {
			otyp = "output"
		}
		if t, n, ok := comfyAnnotated(oname); ok {
			otyp, oname = t, n
		}
		osub, subOK := comfyCleanSubfolder(orig.Subfolder)
		if _, exists := c.st.files[comfyFileKey(otyp, osub, oname)]; exists && subOK &&
			!strings.HasPrefix(oname, "/") && !strings.Contains(oname, "..") {
			c.st.putFile(typ, sub, name, up.data)
			c.st.uploads++
		}
	}
	c.st.mu.Unlock()
	if status != 0 {
		comfyUploadFail(w, status)
		return
	}
	comfyWriteJSON(w, http.StatusOK, comfyObject{{"name", name}, {"subfolder", up.fields["subfolder"]}, {"type", typ}})
}

// comfyUploadFail answers a failed upload: aiohttp's 413 text, the
// handler's empty 400, or Python's 500.
func comfyUploadFail(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusRequestEntityTooLarge:
		w.Header().Set("Connection", "close")
		writeText(w, status, "text/plain; charset=utf-8",
			fmt.Sprintf("Maximum request body size %d exceeded, actual body size %d", comfyMaxBody, comfyMaxBody+1))
	case http.StatusInternalServerError:
		comfyWrite500(w)
	default:
		writeText(w, status, "", "")
	}
}

// comfyAnnotated is folder_paths.annotated_filepath: a name ending in
// "[output]", "[input]" or "[temp]" picks that directory; the tag and the
// one character before it are cut.
func comfyAnnotated(name string) (typ, base string, ok bool) {
	for _, t := range []string{"output", "input", "temp"} {
		if tag := "[" + t + "]"; strings.HasSuffix(name, tag) {
			base = name[:len(name)-len(tag)]
			if base != "" {
				base = base[:len(base)-1]
			}
			return t, base, true
		}
	}
	return "", name, false
}

// getView is GET /view: the raw file (Range and If-Modified-Since handled
// as aiohttp's FileResponse does), its Content-Type guessed from the
// extension, Content-Disposition: filename="<name>". preview= and channel=
// are ignored: the file is served as stored.
func (c *ComfyUI) getView(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, ok := q["filename"]
	if !ok {
		writeText(w, http.StatusNotFound, "", "")
		return
	}
	filename := name[0]
	typ := q.Get("type")
	if typ == "" {
		typ = "output"
	}
	if t, base, ok := comfyAnnotated(filename); ok {
		typ, filename = t, base
	}
	if filename == "" || strings.HasPrefix(filename, "/") || strings.Contains(filename, "..") || !comfyDirType(typ) {
		writeText(w, http.StatusBadRequest, "", "")
		return
	}
	sub, ok := comfyCleanSubfolder(q.Get("subfolder"))
	if !ok {
		writeText(w, http.StatusForbidden, "", "")
		return
	}
	filename = path.Base(filename)
	c.st.mu.Lock()
	f := c.st.files[comfyFileKey(typ, sub, filename)]
	c.st.mu.Unlock()
	if f == nil {
		writeText(w, http.StatusNotFound, "", "")
		return
	}
	ct := mime.TypeByExtension(path.Ext(filename))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	switch ct {
	case "", "text/html", "text/html-sandboxed", "application/xhtml+xml", "text/javascript", "text/css":
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `filename="`+filename+`"`)
	http.ServeContent(w, r, "", f.modTime, bytes.NewReader(f.data))
}
