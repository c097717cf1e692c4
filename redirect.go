package authclient

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// checkRedirect follows a redirect only when it is safe to send the
// credentials again and the answer will mean what the caller asked: the
// original request was a GET or HEAD (a redirected DELETE or POST would
// become a GET of some page, and its 200 would look like success), the
// target has the base URL's origin and stays under its path however a
// proxy resolves it (another application behind the same proxy must not
// see them; see [underBase]), and it is not a sign-in page or the server's
// error page; at most maxRedirects of them. Anything else stops at the
// redirect response, which checkResponse turns into an error. A call
// this never follows a redirect of is sent without http.Client.Do
// ([call.unfollowed]): a change here must change that too
// (TestUnfollowedCallsLikeClientDo).
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects || noRedirects(req.Context()) || !c.sameOrigin(req.URL) || c.isLoginURL(req.URL) || c.isErrorURL(req.URL) {
		return http.ErrUseLastResponse
	}
	if m := via[0].Method; m != http.MethodGet && m != http.MethodHead {
		return http.ErrUseLastResponse
	}
	if _, ok := c.relativePath(req.URL); !ok {
		return http.ErrUseLastResponse
	}
	return nil
}

// isLoginURL reports whether u is the server's sign-in page on the base
// URL's origin: under the base path, or at the root (a server behind a
// proxy that strips a path prefix builds its redirects without it).
func (c *Client) isLoginURL(u *url.URL) bool {
	if !c.sameOrigin(u) {
		return false
	}
	if rel, ok := c.relativePath(u); ok && c.spec.isLoginPath(rel) {
		return true
	}
	return c.spec.isLoginPath(u.Path)
}

// isErrorURL reports whether u is the server's own error page on the base
// URL's origin, under the base path or at the root (as isLoginURL).
func (c *Client) isErrorURL(u *url.URL) bool {
	if len(c.spec.errorPaths) == 0 || !c.sameOrigin(u) {
		return false
	}
	if rel, ok := c.relativePath(u); ok && c.spec.isErrorPath(rel) {
		return true
	}
	return c.spec.isErrorPath(u.Path)
}

// redirectsToErrorPage reports whether resp is a redirect to the server's
// error page: a failure even for a call that takes redirects as answers.
func (c *Client) redirectsToErrorPage(resp *http.Response, req *http.Request) bool {
	if len(c.spec.errorPaths) == 0 {
		return false
	}
	target, err := req.URL.Parse(resp.Header.Get("Location"))
	return err == nil && c.isErrorURL(target)
}
func noRedirects(ctx context.Context) bool { return ctx.Value(keyNoRedirect) != nil }

func (c *Client) classifyRedirect(e *Error, resp *http.Response, req *http.Request) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		e.kind = ErrUnexpectedServer
		return
	}
	target, err := req.URL.Parse(loc)
	if err != nil {
		e.kind = ErrUnexpectedServer
		e.Location = "(unparseable)"
		return
	}
	e.Location = c.redactedURL(target)
	if c.isLoginURL(target) {
		e.kind = ErrUnauthorized
		e.Hint = "the server redirected to its sign-in page"
		return
	}
	if c.isErrorURL(target) {
		e.kind = ErrUnavailable
		e.Hint = c.spec.name + " redirected to its error page: the server failed, not the credentials (check its logs and its database)"
		return
	}
	e.kind = ErrRedirect
	_, underBase := c.relativePath(target)
	switch {
	case !c.sameOrigin(target):
		e.Hint = "redirect to another origin not followed; credentials are only sent to " + c.base.Scheme + "://" + c.base.Host
		if target.Scheme == "http" && req.URL.Scheme == "https" {
			e.Hint = "redirect from https to http not followed"
		}
	case !underBase && strings.HasPrefix(target.Path, c.base.Path):
		e.Hint = "redirect to a path a proxy may resolve out of the base URL's path (" + c.base.Path +
			") not followed: it has dot segments in some encoding (\"%2e%2e\", \"..%2f\", \"..;\"), an encoded slash or control characters"
	case !underBase:
		e.Hint = "redirect out of the base URL's path (" + c.base.Path + ") not followed: credentials are only sent under it"
	case req.Method != http.MethodGet && req.Method != http.MethodHead:
		e.Hint = "redirect of a " + req.Method + " not followed: it would become a GET of another page"
	default:
		e.Hint = "redirect not followed"
	}
}
