package authclient_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/selfhost-sdk/authclient"
)

// exampleServer stands in for a server behind a proxy at /komga/ that
// accepts the API key "example-key".
func exampleServer(h http.HandlerFunc) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/komga/") || r.Header.Get("X-Api-Key") != "example-key" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}))
}

// Server-sent events, read as the server sends them.
func ExampleClient_Stream() {
	srv := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "data: step %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	})
	defer srv.Close()
	c, err := authclient.New(authclient.Komga, srv.URL+"/komga/", authclient.WithAPIKey("example-key"))
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.Stream(context.Background(), http.MethodGet, "sse/v1/events", nil)
	if err != nil {
		log.Fatal(err) // an *authclient.Error for a non-2xx answer, as for Do
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			fmt.Println(data)
		}
	}
	// Output:
	// step 1
	// step 2
	// step 3
}

// A download streamed into any io.Writer (a file, a hash, io.Discard),
// without holding it in memory.
func ExampleClient_Do_download() {
	srv := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		_, _ = io.WriteString(w, "PK\x03\x04…the book…")
	})
	defer srv.Close()
	c, err := authclient.New(authclient.Komga, srv.URL+"/komga/", authclient.WithAPIKey("example-key"))
	if err != nil {
		log.Fatal(err)
	}
	var file bytes.Buffer // or an *os.File
	var m authclient.Meta
	err = c.Do(context.Background(), http.MethodGet, "api/v1/books/0A1B/file", nil, &file, authclient.ResponseMeta(&m))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.StatusCode, m.Header.Get("Content-Type"), file.Len(), "bytes")
	// Output: 200 application/zip 18 bytes
}

// A multipart upload, streamed part by part: a file of any size takes
// constant memory.
func ExampleForm() {
	srv := exampleServer(func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			fmt.Printf("server got %s %q: %d bytes\n", p.FormName(), p.FileName(), len(b))
		}
	})
	defer srv.Close()
	c, err := authclient.New(authclient.Komga, srv.URL+"/komga/", authclient.WithAPIKey("example-key"))
	if err != nil {
		log.Fatal(err)
	}
	book := strings.NewReader("PK\x03\x04…") // an *os.File in real life: a seeker, so retries can replay it
	form := authclient.NewForm().
		Field("libraryId", "0A1B").
		File("file", "Vol 1.cbz", "application/zip", book)
	if err := c.Do(context.Background(), http.MethodPost, "api/v1/books/import", form, nil); err != nil {
		log.Fatal(err)
	}
	// Output:
	// server got libraryId "": 4 bytes
	// server got file "Vol 1.cbz": 7 bytes
}
