// Command comfyui checks a ComfyUI server (health, queue, key), then runs
// a whole job: it uploads an input image, queues a workflow, prints the
// progress as it arrives over the WebSocket, waits for the end, downloads
// the output to a file and prints its size.
//
// It uses the typed client of package comfyui, configured only from the
// environment (see comfyui.NewFromEnv):
//
//	COMFYUI_URL=http://gpu-box:8188 COMFYUI_API_KEY=... go run ./examples/comfyui
//	COMFYUI_URL=... COMFYUI_API_KEY_FILE=/run/secrets/comfyui go run ./examples/comfyui
//	COMFYUI_URL=https://proxy.example/comfyui COMFYUI_USERNAME=me COMFYUI_PASSWORD=... go run ./examples/comfyui
//
// COMFYUI_API_KEY is the key the server was started with (--api-key or
// --api-key-file, from the API-key patch); COMFYUI_USERNAME and
// COMFYUI_PASSWORD are HTTP Basic credentials for a reverse proxy in front
// of a ComfyUI without the patch. Without COMFYUI_URL it starts an
// in-process fake ComfyUI (package authtest) with a random key, which runs
// the job itself, and says so.
//
// Against a real server, COMFYUI_WORKFLOW names the workflow to run (a
// JSON file in API format, as "Export (API)" saves it); without it the
// example stops after the checks. COMFYUI_INPUT_IMAGE optionally names an
// image to upload: every LoadImage node of the workflow then loads it.
// The output goes to COMFYUI_OUTPUT_DIR (default: the temporary
// directory).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/comfyui"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var workflow []byte
	var input io.Reader
	inputName := ""
	var onFirstEvent func() // starts the fake's sampler once the socket is open
	if os.Getenv("COMFYUI_URL") == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		key := hex.EncodeToString(b)
		fake := authtest.NewComfyUI(key, authtest.WithPrefix("/comfyui"))
		defer fake.Close()
		step := make(chan struct{})
		fake.RunPrompts(authtest.ComfyJob{Steps: 4, Step: step, Previews: true, Image: fakeOutput})
		onFirstEvent = func() {
			go func() {
				for range 4 {
					select {
					case step <- struct{}{}:
					case <-ctx.Done():
						return
					}
				}
			}()
		}
		workflow, input, inputName = []byte(fakeWorkflow), bytes.NewReader(fakeInput), "input.png"
		fmt.Printf("COMFYUI_URL is not set: using a built-in fake ComfyUI at %s\n", fake.URL)
		fmt.Println("  (for a real server: COMFYUI_URL=http://host:8188/ COMFYUI_API_KEY_FILE=key.txt COMFYUI_WORKFLOW=workflow_api.json go run ./examples/comfyui)")
		// Configure it exactly as a real deployment would be: through the
		// environment of this process.
		for _, v := range []string{"COMFYUI_API_KEY_FILE", "COMFYUI_USERNAME", "COMFYUI_PASSWORD", "COMFYUI_PASSWORD_FILE"} {
			os.Unsetenv(v) // only the fake's credentials
		}
		os.Setenv("COMFYUI_URL", fake.URL)
		os.Setenv("COMFYUI_API_KEY", key)
	}

	c, err := comfyui.NewFromEnv(authclient.WithUserAgent("authclient-example-comfyui/1.0"))
	if err != nil {
		return err
	}
	jobCtx := ctx // the job gets its own, longer, deadline
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	// /health needs no key (a proxy in front may still want its credentials).
	h, err := c.Core().Health(ctx) // a shared operation: on the core
	switch {
	case errors.Is(err, authclient.ErrNotFound):
		fmt.Println("health: no /health endpoint (ComfyUI without the API-key patch)")
	case err != nil:
		return explain(err)
	default:
		version := h.Version
		if version == "" {
			version = "unknown"
		}
		fmt.Printf("health: %s (version %s)\n", h.Status, version)
	}

	q, err := c.Queue(ctx) // a ComfyUI operation: on the typed client
	if err != nil {
		return explain(err)
	}
	fmt.Printf("queue: %d running, %d pending\n", len(q.Running), len(q.Pending))

	// /health answers 200 whatever key is sent: CheckAuth is the key check.
	if err := c.Core().CheckAuth(ctx); err != nil {
		return explain(err)
	}
	fmt.Println("key accepted")

	if workflow == nil {
		path := os.Getenv("COMFYUI_WORKFLOW")
		if path == "" {
			fmt.Println("COMFYUI_WORKFLOW is not set: no job to run")
			return nil
		}
		if workflow, err = readBounded(path, 16<<20); err != nil {
			return err
		}
		if p := os.Getenv("COMFYUI_INPUT_IMAGE"); p != "" {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			input, inputName = f, filepath.Base(p)
		}
	}
	return runJob(jobCtx, c, workflow, input, inputName, onFirstEvent)
}

// runJob uploads the input (if any), queues the workflow, follows it and
// downloads its first output.
func runJob(ctx context.Context, c *comfyui.Client, workflow []byte, input io.Reader, inputName string, onFirstEvent func()) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if input != nil {
		up, err := c.UploadImage(ctx, inputName, input, comfyui.UploadOptions{})
		if err != nil {
			return explain(err)
		}
		fmt.Printf("uploaded %s as %s\n", inputName, up.Name)
		if workflow, err = setLoadImage(workflow, up.Name); err != nil {
			return err
		}
	}
	clientID := "authclient-example-" + randomHex(8)
	q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: json.RawMessage(workflow), ClientID: clientID})
	if err != nil {
		return explain(err)
	}
	fmt.Println("queued", q.PromptID)
	var once sync.Once
	res, err := c.Wait(ctx, q.PromptID, comfyui.WithClientID(clientID), comfyui.OnEvent(func(ev comfyui.Event) {
		if onFirstEvent != nil {
			once.Do(onFirstEvent)
		}
		switch ev.Type {
		case comfyui.EventProgress:
			fmt.Printf("progress: node %s step %d/%d\n", ev.Node, ev.Value, ev.Max)
		case comfyui.EventPreview:
			fmt.Printf("preview: %s, %d bytes\n", ev.Preview.ContentType, len(ev.Preview.Image))
		case comfyui.EventExecuted:
			fmt.Printf("node %s wrote %d file(s)\n", ev.Node, len(ev.Files))
		}
	}))
	if err != nil {
		return explain(err)
	}
	fmt.Printf("done (followed over the %s)\n", res.Via)
	for node, files := range res.Outputs {
		for _, f := range files {
			dir := os.Getenv("COMFYUI_OUTPUT_DIR")
			if dir == "" {
				dir = os.TempDir()
			}
			path := filepath.Join(dir, filepath.Base(f.Filename))
			out, err := os.Create(path)
			if err != nil {
				return err
			}
			info, err := c.Download(ctx, f, out)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return explain(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				return err
			}
			fmt.Printf("node %s: saved %s (%s, %d bytes)\n", node, path, info.ContentType, st.Size())
		}
	}
	return nil
}

// setLoadImage points every LoadImage node of an API-format workflow at
// the uploaded image.
func setLoadImage(workflow []byte, name string) ([]byte, error) {
	var nodes map[string]map[string]any
	if err := json.Unmarshal(workflow, &nodes); err != nil {
		return nil, fmt.Errorf("the workflow is not a JSON object of nodes (API format): %w", err)
	}
	for _, n := range nodes {
		if n["class_type"] == "LoadImage" {
			inputs, _ := n["inputs"].(map[string]any)
			if inputs == nil {
				inputs = map[string]any{}
				n["inputs"] = inputs
			}
			inputs["image"] = name
		}
	}
	return json.Marshal(nodes)
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	fakeInput  = []byte("\x89PNG\r\n\x1a\n input image")
	fakeOutput = bytes.Repeat([]byte("output image "), 1000)
)

// fakeWorkflow is ComfyUI's default workflow with a LoadImage node: the
// fake checks the nodes and runs it.
const fakeWorkflow = `{
 "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 4, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
  "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
 "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
 "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
 "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
 "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
 "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
 "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "example", "images": ["8", 0]}},
 "10": {"class_type": "LoadImage", "inputs": {"image": "input.png"}}
}`

// explain adds what to check to a rejected credential.
func explain(err error) error {
	if errors.Is(err, authclient.ErrUnauthorized) {
		return fmt.Errorf("%w\ncheck COMFYUI_API_KEY (the key the server was started with), or COMFYUI_USERNAME and COMFYUI_PASSWORD for a proxy", err)
	}
	return err
}
