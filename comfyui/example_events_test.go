package comfyui_test

import (
	"context"
	"fmt"
	"log"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/authtest"
	"github.com/selfhost-sdk/authclient/comfyui"
)

// Events follows the prompts of one client id live: here the prompt is
// queued once the socket is open (its first event, the status greeting),
// and the stream ends with the prompt (Until).
func ExampleClient_Events() {
	srv := authtest.NewComfyUI("s3cret", authtest.WithPrefix("/comfyui"))
	defer srv.Close()
	srv.RunPrompts(authtest.ComfyJob{Steps: 2})
	c, err := comfyui.New(srv.URL, authclient.WithAPIKey("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	promptID := "0f4a1f52-2b9e-4c8e-9d8e-6a1b2c3d4e5f" // the client's own prompt id
	for ev, err := range c.Events(ctx, "events-example", comfyui.Until(promptID)) {
		if err != nil {
			log.Fatal(err) // a *comfyui.SocketError: refused, or the socket closed
		}
		switch ev.Type {
		case comfyui.EventStatus:
			if ev.SessionID != "" { // the greeting: the socket is open
				_, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: exampleJob, ClientID: "events-example", PromptID: promptID})
				if err != nil {
					log.Fatal(err)
				}
			}
		case comfyui.EventProgress:
			fmt.Printf("node %s: %d/%d\n", ev.Node, ev.Value, ev.Max)
		case comfyui.EventExecuted:
			fmt.Printf("node %s wrote %s\n", ev.Node, ev.Files[0].Filename)
		case comfyui.EventExecutionSuccess:
			fmt.Println("done")
		}
	}
	// Output:
	// node 3: 1/2
	// node 3: 2/2
	// node 9 wrote demo_00001_.png
	// done
}

// Cancel stops a prompt whether it waits in the queue or runs (then Wait
// reports the interrupt, errors.Is(err, comfyui.ErrInterrupted)). Here it
// waits: the fake runs nothing until told to.
func ExampleClient_Cancel() {
	srv := authtest.NewComfyUI("s3cret", authtest.WithPrefix("/comfyui"))
	defer srv.Close()
	c, err := comfyui.New(srv.URL, authclient.WithAPIKey("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: exampleJob})
	if err != nil {
		log.Fatal(err)
	}
	before, err := c.Queue(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Cancel(ctx, q.PromptID); err != nil {
		log.Fatal(err)
	}
	after, err := c.Queue(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", len(before.Pending), "then", len(after.Pending))
	// Output: pending: 1 then 0
}
