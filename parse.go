package authclient

// maxParsed bounds the JSON [Client.ParseSession] and [Client.ParseUser]
// read, as the client bounds every JSON answer it decodes.
const maxParsed = maxJSONResponseLength

// ParseSession reads the server's JSON sign-in answer into a [Session], the
// way the client reads its own sign-ins: Audiobookshelf's login answer
// (user.accessToken and user.refreshToken, as /login, /auth/refresh and the
// OpenID callback send it), with the expiry and issue times read from the
// tokens. It is for sign-ins the client has no method for (a server
// package's OpenID flow, a sign-in route behind a proxy): get the answer
// with [Client.Do] into a json.RawMessage, parse it, and install the
// session with [Client.UseSession]. The tokens are masked in the client's
// errors and logs from the moment they are parsed.
//
// Errors: an answer that is not the server's login JSON, or one without an
// access token (Audiobookshelf before 2.26), is an [*Error] matching
// [ErrUnexpectedServer], with StatusCode 0 and nothing of the answer in
// it; a server whose sign-in answer is not JSON (Komga's is a header,
// Khoj's a cookie) or that has no sessions returns an error matching
// errors.ErrUnsupported.
func (c *Client) ParseSession(data []byte) (*Session, error) {
	if err := c.spec.require(OpParseSession); err != nil {
		return nil, err
	}
	if len(data) > maxParsed {
		return nil, c.localError(ErrUnexpectedServer, "-", nil, "the sign-in answer is longer than the client reads")
	}
	s, err := c.spec.sessions.parse(c, data)
	if err != nil {
		return nil, err
	}
	s.Server = c.spec.server
	return s, nil
}

// ParseUser reads the server's JSON account object into a [User], as
// [Client.CurrentUser] reads it: Audiobookshelf's user (GET /api/me, and the
// "user" of its login and POST /api/authorize answers), with
// [AudiobookshelfUser] filled in. It is for answers the client has no
// method for, fetched with [Client.Do] into a json.RawMessage. Tokens the
// object carries are masked in the client's errors and logs, and not kept
// in the User.
//
// Errors: JSON that is not the server's user object is an [*Error]
// matching [ErrUnexpectedServer], with StatusCode 0 and nothing of the
// data in it; other servers return an error matching
// errors.ErrUnsupported.
func (c *Client) ParseUser(data []byte) (*User, error) {
	if err := c.spec.require(OpParseUser); err != nil {
		return nil, err
	}
	if len(data) > maxParsed {
		return nil, c.localError(ErrUnexpectedServer, "-", nil, "the user object is longer than the client reads")
	}
	return c.spec.parseUser(c, data)
}
