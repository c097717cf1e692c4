package comfyui_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/comfyui"
)

// exampleWorkflow is a small workflow in API format ("Export (API)" in
// ComfyUI).
var exampleWorkflow = []byte(`{
	"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
	"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
	"8": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["4", 2]}},
	"9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "demo"}}}`)

func ExampleNew() {
	srv := authtest.NewComfyUI("s3cret", authtest.WithPrefix("/comfyui")) // a ComfyUI started with --api-key s3cret
	defer srv.Close()
	c, err := comfyui.New(srv.URL, authclient.WithAPIKey("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	// The shared operations are on the core. /health answers whatever key
	// is sent; CheckAuth checks the key.
	if err := c.Core().CheckAuth(ctx); err != nil {
		log.Fatal(err) // errors.Is(err, authclient.ErrUnauthorized) for a wrong key
	}
	st, err := c.SystemStats(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ComfyUI", st.ComfyUIVersion, "on", st.Devices[0].Type)
	// Output: ComfyUI 0.3.64 on cuda
}

func ExampleWrap() {
	srv := authtest.NewComfyUI("s3cret")
	defer srv.Close()
	// A client made for cross-server code…
	core, err := authclient.New(authclient.ComfyUI, srv.URL, authclient.WithAPIKey("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	// …gets the ComfyUI operations by wrapping it.
	c, err := comfyui.Wrap(core)
	if err != nil {
		log.Fatal(err) // a *authclient.ConfigError for a client of another server
	}
	q, err := c.Queue(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("running:", len(q.Running), "pending:", len(q.Pending))
	// Output: running: 0 pending: 0
}

func ExampleClient_QueuePrompt() {
	srv := authtest.NewComfyUI("s3cret", authtest.WithPrefix("/comfyui"))
	defer srv.Close()
	c, err := comfyui.New(srv.URL, authclient.WithAPIKey("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: exampleWorkflow})
	if err != nil {
		log.Fatal(err) // a refused prompt: see comfyui.ValidationDetails
	}
	st, err := c.Queue(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", len(st.Pending), "ours:", st.Pending[0].PromptID == q.PromptID)

	// A workflow with no output node is refused: the details say why.
	_, err = c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: []byte(`{
		"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}}}`)})
	if v, ok := comfyui.ValidationDetails(err); ok {
		fmt.Println("refused:", v.Type, "-", v.Message)
	}
	// Output:
	// pending: 1 ours: true
	// refused: prompt_no_outputs - Prompt has no outputs
}

func ExampleValidationDetails() {
	srv := authtest.NewComfyUI("s3cret", authtest.WithPrefix("/comfyui"))
	defer srv.Close()
	c, err := comfyui.New(srv.URL, authclient.WithAPIKey("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	// The sampler lacks its model input.
	_, err = c.QueuePrompt(context.Background(), comfyui.PromptRequest{Prompt: []byte(`{
		"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 8, "sampler_name": "euler",
			"scheduler": "normal", "denoise": 1, "positive": ["6", 0], "negative": ["6", 0], "latent_image": ["5", 0]}},
		"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
		"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
		"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
		"8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
		"9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "demo"}}}`)})
	v, ok := comfyui.ValidationDetails(err)
	if !ok {
		log.Fatal(err)
	}
	for _, n := range v.Nodes {
		fmt.Printf("node %s (%s): %s: %s\n", n.NodeID, n.ClassType, n.Message, n.Input)
	}
	// Output: node 3 (KSampler): Required input is missing: model
}

func ExampleClient_History() {
	srv := authtest.NewComfyUI("s3cret", authtest.WithPrefix("/comfyui"))
	defer srv.Close()
	c, err := comfyui.New(srv.URL, authclient.WithAPIKey("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: exampleWorkflow})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.History(ctx, q.PromptID); errors.Is(err, comfyui.ErrNoHistory) {
		fmt.Println("not finished yet")
	}
	srv.CompletePrompt(q.PromptID) // the fake runs it (a real server does so itself)
	h, err := c.History(ctx, q.PromptID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(h.Status, h.Outputs["9"][0].Filename)
	// Output:
	// not finished yet
	// success demo_00001_.png
}

// A whole job: upload an input, queue, follow the progress, wait,
// download the output.
func ExampleClient_Wait() {
	srv := authtest.NewComfyUI("s3cret", authtest.WithPrefix("/comfyui"))
	defer srv.Close()
	step := make(chan struct{}) // the fake's sampler runs when the example says so
	srv.RunPrompts(authtest.ComfyJob{Steps: 2, Step: step, Image: []byte("an output image")})
	c, err := comfyui.New(srv.URL, authclient.WithAPIKey("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	in, err := c.UploadImage(ctx, "cat.png", strings.NewReader("input bytes"), comfyui.UploadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("uploaded as", in.Name)
	q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: exampleJob, ClientID: "example-client"})
	if err != nil {
		log.Fatal(err)
	}
	var once sync.Once
	res, err := c.Wait(ctx, q.PromptID, comfyui.WithClientID("example-client"), comfyui.OnEvent(func(ev comfyui.Event) {
		once.Do(func() { go func() { step <- struct{}{}; step <- struct{}{} }() })
		if ev.Type == comfyui.EventProgress {
			fmt.Printf("node %s: step %d/%d\n", ev.Node, ev.Value, ev.Max)
		}
	}))
	var ee *comfyui.ExecutionError
	if errors.As(err, &ee) {
		log.Fatalf("node %s failed: %s", ee.NodeID, ee.Message)
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println("followed over the", res.Via)
	var out bytes.Buffer
	info, err := c.Download(ctx, res.Outputs["9"][0], &out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Outputs["9"][0].Filename, info.ContentType, info.Size, "bytes")
	// Output:
	// uploaded as cat.png
	// node 3: step 1/2
	// node 3: step 2/2
	// followed over the websocket
	// demo_00001_.png image/png 15 bytes
}

// exampleJob samples, decodes and saves an image.
var exampleJob = []byte(`{
	"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
		"denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0], "latent_image": ["5", 0]}},
	"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
	"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
	"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
	"8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
	"9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "demo"}}}`)
