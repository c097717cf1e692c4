package authclient

// Mask returns text with every credential the client knows (its key,
// password, tokens, cookies, [Secret] values) replaced by "REDACTED", in
// every form the client's own errors mask them in. It is for text a server
// sent that a caller prints: the server packages use it on server messages
// they surface outside an [*Error] (a ComfyUI exception message read from
// a WebSocket event).
func (c *Client) Mask(text string) string { return c.secrets.scrub(text) }
