package authclient

// Mask returns text with every credential the client knows (its key,
// password, tokens, cookies, [Secret] values) replaced by "REDACTED", in
// every form the client's own errors mask them in. It is for text a server
// sent that a caller prints: the server packages use it on server messages
// they surface outside an [*Error] (a ComfyUI exception message read from
// a WebSocket event).
func (c *Client) Mask(text string) string { return c.secrets.scrub(text) }

// OneLine makes server text printable on one line, as the client's own
// errors print it: valid UTF-8 (bad bytes become U+FFFD), control
// characters and runs of white space folded to one space, and cut to at
// most max bytes on a rune boundary, the cut marked with "…" (max <= 0
// does not cut). It masks nothing: pass the text through [Client.Mask]
// first when it may echo a credential.
func OneLine(s string, max int) string {
	s = cleanText(s)
	if max > 0 {
		s = truncate(s, max)
	}
	return s
}
