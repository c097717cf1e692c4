package authclient

import (
	"net/url"
)

// ContentType sets the Content-Type of a call's request body: an
// [io.Reader] or [BodyFunc] body is sent as application/octet-stream
// without it. ct is validated like a [Header] value. It is a
// [*ConfigError] on a call without a body, or with a [*Form] (whose
// Content-Type carries its boundary).
func ContentType(ct string) CallOption {
	return func(cl *call) error {
		if err := validateHeader("ContentType", "Content-Type", ct); err != nil {
			return err
		}
		if ct == "" {
			return configErr("ContentType", "is empty")
		}
		switch {
		case cl.body == nil && cl.rbody == nil:
			return configErr("ContentType", "the call has no request body")
		case cl.rbody != nil && cl.rbody.form:
			return configErr("ContentType", "a *Form sets its own Content-Type (multipart/form-data with its boundary)")
		}
		cl.ctype = ct
		return nil
	}
}

// ResponseMeta fills m with the status and headers of the call's answer,
// on every call that got one: a success, an [*Error], the 3xx of a
// [NoRedirect] call. After retries it is the last answer. m is left as it
// is when no answer came ([*TransportError]). The values of the cookies
// an answer sets (Set-Cookie) are masked in the client's errors and logs
// from the moment it arrives, like the credentials the client collects.
func ResponseMeta(m *Meta) CallOption {
	return func(cl *call) error {
		if m == nil {
			return configErr("ResponseMeta", "the *Meta is nil")
		}
		cl.meta = m
		return nil
	}
}

// Unauthenticated sends the call without any credential: for a server's
// public endpoints (status, sign-in options) from an authenticated client.
func Unauthenticated() CallOption {
	return func(cl *call) error { cl.noAuth = true; cl.auth = nil; return nil }
}

// AuthenticateWith authenticates the call with a, not the client's
// authenticator: for example a sign-in's Basic credentials, or a key being
// verified. Its credentials are masked in the client's errors and logs like
// the client's own, and are sent, as they are, only to the client's
// origin under its base path. On an ErrUnauthorized answer a is asked to
// renew if it is a [Reauthenticator]. a may not be nil, and a built-in
// authenticator is validated as [New] validates it ([*ConfigError]).
func AuthenticateWith(a Authenticator) CallOption {
	return func(cl *call) error {
		if isNil(a) {
			return configErr("AuthenticateWith", "authenticator is nil (use Unauthenticated() for none)")
		}
		if v, ok := a.(interface{ validate() error }); ok {
			if err := v.validate(); err != nil {
				return err // a key with CR/LF, a Basic username with a colon, …
			}
		}
		cl.auth, cl.noAuth = a, false
		return nil
	}
}

// NoRedirect follows no redirect on the call: a 3xx answer is the result,
// not an error (except a redirect to the server's error page, which still
// fails). Read its Location and Set-Cookie headers with [ResponseMeta],
// or take the response with [Client.Stream].
func NoRedirect() CallOption {
	return func(cl *call) error { cl.noRedirect = true; return nil }
}

// CallOption adjusts one [Client.Do] call.
type CallOption func(*call) error

// Query adds query parameters to a call. v is a struct encoded with
// go-querystring (`url:"name,omitempty"` tags; see
// https://pkg.go.dev/github.com/google/go-querystring/query) or a url.Values,
// which is used as it is, without a copy: the call reads it and never
// modifies it. A struct whose fields are all strings, booleans, numbers,
// pointers to those or []string, tagged at most with omitempty, is encoded
// from a plan worked out once per type, with go-querystring's result and
// a third of its allocations; any other is encoded by go-querystring.
func Query(v any) CallOption {
	return func(cl *call) error {
		var vals url.Values
		switch q := v.(type) {
		case nil:
			return nil
		case url.Values:
			vals = q
		default:
			var err error
			vals, err = queryValues(v)
			if err != nil {
				return &ConfigError{Setting: "Query", Problem: "cannot be encoded: " + err.Error(), Err: err}
			}
		}
		if cl.query == nil {
			// Used as it is: ours alone, or the caller's, which the call
			// only reads (ownQuery copies it before anything is added).
			_, cl.queryShared = v.(url.Values)
			cl.query = vals
			return nil
		}
		cl.ownQuery(len(vals))
		for k, vs := range vals {
			cl.query[k] = append(cl.query[k], vs...)
		}
		return nil
	}
}

// Header sets a request header on one call. Names and values are validated
// like [WithHeader], and values are masked like its values in the client's
// errors and logs (among the most recently used credentials the client
// keeps, not for the client's lifetime).
func Header(name, value string) CallOption {
	return func(cl *call) error {
		if err := validateHeader("Header", name, value); err != nil {
			return err
		}
		cl.setHeader(name, value)
		cl.secrets = append(cl.secrets, headerSecrets(name, value)...)
		return nil
	}
}

// Idempotent marks a POST or PATCH call as safe to repeat, so it is retried
// like a GET. Only use it when the operation really is idempotent.
func Idempotent() CallOption {
	return func(cl *call) error { cl.retry = true; return nil }
}

// NoRetry turns retries off for one call.
func NoRetry() CallOption {
	return func(cl *call) error { cl.retry = false; return nil }
}

// Secret masks values in the client's errors and logs, like the values of
// a [Header] call option: for credentials a call carries in its body (a
// third-party token in a JSON field) or anywhere else the client would not
// know it for one. They join the most recently used credentials the client
// keeps. Values shorter than a few bytes are not masked (they would mask
// ordinary text); an empty value is ignored.
func Secret(values ...string) CallOption {
	return func(cl *call) error {
		for _, v := range values {
			if v != "" {
				cl.secrets = append(cl.secrets, v)
			}
		}
		return nil
	}
}

// ErrorCode names a failed answer: on each [*Error] the call returns for
// an HTTP answer, f gets the error's [Error.StatusCode] and [Error.Body]
// and returns a code for [Error.Code], or "" to leave it as it is. It is
// how a server package gives the answers of one operation that the server
// sends without a code of their own (an empty 401) a name callers can
// match, without re-classifying the error or building one: the category
// (errors.Is) stays the core's. The code is folded to one line, bounded
// and masked like [ErrorHint]'s hint. f must not keep body.
func ErrorCode(f func(status int, body []byte) string) CallOption {
	return func(cl *call) error {
		if f == nil {
			return configErr("ErrorCode", "the function is nil")
		}
		cl.errorCode = f
		return nil
	}
}

// ErrorHint explains a failed answer: on each [*Error] the call returns
// for an HTTP answer, f gets the error's [Error.Body] and returns a hint,
// or "" to leave [Error.Hint] as it is. The hint is made safe as the
// server's own text is: folded to one line, bounded in length and masked
// of the client's credentials. It is how a server package adds detail
// from the body (a refused prompt's failing nodes) without re-checking the
// status or building an Error. f must not keep body.
func ErrorHint(f func(body []byte) string) CallOption {
	return func(cl *call) error {
		if f == nil {
			return configErr("ErrorHint", "the function is nil")
		}
		cl.errorHint = f
		return nil
	}
}
