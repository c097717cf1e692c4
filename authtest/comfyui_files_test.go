package authtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient/authtest"
)

// comfyGet sends a GET with the key and returns status, headers, body.
func comfyGet(t *testing.T, url string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer k")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := testClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// comfyUpload posts a multipart form of fields (and an "image" file when
// filename is set) to path.
func comfyUpload(t *testing.T, url, filename, data string, fields ...string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if filename != "" {
		w, _ := mw.CreateFormFile("image", filename)
		_, _ = io.WriteString(w, data)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		_ = mw.WriteField(fields[i], fields[i+1])
	}
	_ = mw.Close()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", url, &body)
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := testClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestComfyUIView: /view follows ComfyUI's checks in order — no filename
// 404, a bad name or type 400, an escaping subfolder 403, an unknown file
// 404, all empty — serves Range requests, guesses the content type
// (dangerous ones forced to octet-stream), and takes the "[input]"
// annotation over the type; it needs the key.
func TestComfyUIView(t *testing.T) {
	t.Parallel()
	srv := authtest.NewComfyUI("k", authtest.WithPrefix("/p"))
	defer srv.Close()
	base := strings.TrimSuffix(srv.URL, "/")
	srv.PutFile("output", "sub", "a.png", []byte("0123456789"))
	srv.PutFile("input", "", "b.html", []byte("<script>"))
	for q, want := range map[string]int{
		"":                                       404,
		"filename=":                              400,
		"filename=/etc/passwd":                   400,
		"filename=x..png":                        400,
		"filename=a.png&type=models":             400,
		"filename=a.png&subfolder=../..":         403,
		"filename=a.png&subfolder=/abs":          403,
		"filename=a.png":                         404,
		"filename=a.png&subfolder=sub&type=temp": 404,
	} {
		status, _, body := comfyGet(t, base+"/view?"+q)
		assert.Equal(t, want, status, q)
		assert.Empty(t, body, q)
	}
	status, h, body := comfyGet(t, base+"/view?filename=a.png&subfolder=sub")
	assert.Equal(t, 200, status)
	assert.Equal(t, "0123456789", body)
	assert.Equal(t, "image/png", h.Get("Content-Type"))
	assert.Equal(t, `filename="a.png"`, h.Get("Content-Disposition"))
	status, _, body = comfyGet(t, base+"/view?filename=a.png&subfolder=sub", "Range", "bytes=2-4")
	assert.Equal(t, 206, status)
	assert.Equal(t, "234", body)
	status, h, _ = comfyGet(t, base+"/view?filename=b.html+%5Binput%5D&type=output")
	assert.Equal(t, 200, status, "the annotation picks the input directory")
	assert.Equal(t, "application/octet-stream", h.Get("Content-Type"))
	req, _ := http.NewRequest("GET", base+"/view?filename=a.png&subfolder=sub", nil)
	resp, err := testClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode, "/view is not exempt")
}

// TestComfyUIUploads: /upload/image's field rules (type default input,
// unknown type 500, escaping subfolder 400, no file 400, overwrite only
// for "true" and "1") and /upload/mask's (original_ref required, else
// 500; a missing original answers 200 and stores nothing).
func TestComfyUIUploads(t *testing.T) {
	t.Parallel()
	srv := authtest.NewComfyUI("k", authtest.WithPrefix("/p"))
	defer srv.Close()
	up := strings.TrimSuffix(srv.URL, "/") + "/upload/image"
	status, body := comfyUpload(t, up, "x.png", "one", "subfolder", "s")
	require.Equal(t, 200, status)
	assert.JSONEq(t, `{"name": "x.png", "subfolder": "s", "type": "input"}`, body)
	for _, ow := range []string{"True", "yes", "0"} {
		status, body = comfyUpload(t, up, "x.png", "two-"+ow, "subfolder", "s", "overwrite", ow)
		require.Equal(t, 200, status)
		var d struct{ Name string }
		require.NoError(t, json.Unmarshal([]byte(body), &d))
		assert.NotEqual(t, "x.png", d.Name, "overwrite=%s is not overwrite", ow)
	}
	for _, ow := range []string{"true", "1"} {
		status, body = comfyUpload(t, up, "x.png", "three-"+ow, "subfolder", "s", "overwrite", ow)
		require.Equal(t, 200, status)
		assert.Contains(t, body, `"name": "x.png"`)
		got, _ := srv.File("input", "s", "x.png")
		assert.Equal(t, "three-"+ow, string(got))
	}
	status, _ = comfyUpload(t, up, "x.png", "d", "type", "models")
	assert.Equal(t, 500, status)
	status, _ = comfyUpload(t, up, "x.png", "d", "subfolder", "../out")
	assert.Equal(t, 400, status)
	status, _ = comfyUpload(t, up, "", "", "type", "input")
	assert.Equal(t, 400, status)

	mask := strings.TrimSuffix(srv.URL, "/") + "/upload/mask"
	status, _ = comfyUpload(t, mask, "m.png", "m")
	assert.Equal(t, 500, status, "no original_ref")
	status, _ = comfyUpload(t, mask, "m.png", "m", "original_ref", `{"filename": "nope.png"}`)
	assert.Equal(t, 200, status)
	_, ok := srv.File("input", "", "m.png")
	assert.False(t, ok, "no original: nothing written")
	status, _ = comfyUpload(t, mask, "m.png", "m", "original_ref", `{"filename": "x.png", "subfolder": "s", "type": "input"}`)
	assert.Equal(t, 200, status)
	_, ok = srv.File("input", "", "m.png")
	assert.True(t, ok)
}
