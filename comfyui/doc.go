// Package comfyui is the typed client for ComfyUI: the operations only
// ComfyUI has (uploading inputs, queueing prompts, following them live on
// the /ws WebSocket, waiting for them, downloading their outputs,
// cancelling them; the queue, the history, system stats), on top of the
// shared core in package authclient.
//
// # A whole job
//
//	in, err := c.UploadImage(ctx, "cat.png", file, comfyui.UploadOptions{})
//	q, err := c.QueuePrompt(ctx, comfyui.PromptRequest{Prompt: workflow, ClientID: id})
//	res, err := c.Wait(ctx, q.PromptID, comfyui.WithClientID(id), comfyui.OnEvent(func(ev comfyui.Event) {
//		if ev.Type == comfyui.EventProgress {
//			fmt.Printf("%d/%d\n", ev.Value, ev.Max)
//		}
//	})) // an *ExecutionError (node, exception, message) or *InterruptedError on failure
//	info, err := c.Download(ctx, res.Outputs["9"][0], out)
//
// [Client.Events] is the raw typed event stream; [Client.Cancel] stops a
// prompt.
//
// # Signing in
//
// ComfyUI with the API-key patch (started with --api-key or
// --api-key-file) takes one static key, sent as Authorization: Bearer:
//
//	c, err := comfyui.New("http://gpu-box:8188", authclient.WithAPIKey(key))
//
// or, from COMFYUI_URL and COMFYUI_API_KEY (or COMFYUI_API_KEY_FILE),
// [NewFromEnv]. A ComfyUI behind a reverse proxy that wants HTTP Basic takes
// authclient.WithLogin(user, password). The dialect (where the key goes,
// that a request never carries two keys, what a 401 means) is the core's:
// authclient.New(authclient.ComfyUI, …) signs in the same way without this
// package.
//
// # Why a typed client
//
// [Client] wraps an *authclient.Client for ComfyUI only, so the compiler
// rejects QueuePrompt on a Komga client, and a single-server program sees
// only what ComfyUI has. The shared operations (Health, CheckAuth, Probe),
// Do and Stream for endpoints this package has no method for, and the
// authenticated transport (for /ws) are on [Client.Core].
//
// # Errors
//
// Answers the server refuses are the core's *authclient.Error (see the
// Errors section of [authclient]), classified once, by the core, and
// matched with errors.Is against authclient.ErrUnauthorized,
// authclient.ErrNotFound, …; a prompt ComfyUI refuses carries its details,
// read with [ValidationDetails]. Bad arguments are the core's
// *authclient.ConfigError, whose Setting names the field
// ("comfyui.PromptRequest.PromptID"), and nothing is sent. The other errors
// this package makes itself start with "comfyui: " ([ErrNoHistory], a
// prompt id that would leave /history/).
package comfyui
