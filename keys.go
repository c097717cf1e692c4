package authclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// APIKeyInfo describes an API key (Khoj: an API token) without its secret.
type APIKeyInfo struct {
	// ID identifies the key for [Client.DeleteAPIKey] and [Client.RotateAPIKey].
	ID string
	// Name is the key's name (Komga calls it the comment).
	Name string
	// UserID is the owner's id (Komga, Audiobookshelf).
	UserID string
	// Username is the owner's name, when the server says (Audiobookshelf).
	Username string
	// CreatedAt is when the key was created (zero if the server does not say).
	CreatedAt time.Time
	// ExpiresAt is when the key expires; zero means never.
	ExpiresAt time.Time
	// Active reports whether the key can be used. Komga and Khoj keys are
	// always active; Audiobookshelf keys can be deactivated.
	Active bool
}

// CreateAPIKeyRequest describes a key to create. Fields a server does not
// support must be left zero, or the call fails with an error matching
// errors.ErrUnsupported.
type CreateAPIKeyRequest struct {
	// Name names the key. Komga requires it and keeps it unique per user
	// (case-insensitively); Khoj picks a random name when it is empty.
	Name string
	// UserID is the user the key acts as (Audiobookshelf; default: the
	// signed-in user).
	UserID string
	// ExpiresIn makes the key expire (Audiobookshelf); 0 means never.
	ExpiresIn time.Duration
	// Inactive creates the key deactivated (Audiobookshelf). Keys are
	// created active by default, although Audiobookshelf's own default is
	// inactive.
	Inactive bool
}

// CreatedAPIKey is a newly created key. Secret is shown only this once: store
// it now. fmt and slog print the key with its secret redacted.
type CreatedAPIKey struct {
	APIKeyInfo
	// Secret is the key itself, to send with [APIKey] or [WithAPIKey].
	Secret string
}

// Format prints the key without its secret, for every verb.
func (k CreatedAPIKey) Format(f fmt.State, verb rune) {
	redactedFormat(f, verb, "CreatedAPIKey("+k.ID+" "+k.Name+", secret REDACTED)")
}

// LogValue logs the key without its secret.
func (k CreatedAPIKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("name", k.Name), slog.String("secret", "REDACTED"))
}

// ListAPIKeys lists API keys (Khoj: API tokens), without their secrets:
// Komga lists the signed-in user's keys, Audiobookshelf every key on the
// server (admins only), Khoj the user's tokens. ComfyUI has one static key
// and returns an error matching errors.ErrUnsupported.
func (c *Client) ListAPIKeys(ctx context.Context) ([]APIKeyInfo, error) {
	if c.spec.listKeys == nil {
		return nil, c.spec.unsupportedErr("ListAPIKeys")
	}
	return c.spec.listKeys(ctx, c)
}

// CreateAPIKey creates an API key and returns it with its secret, which the
// server shows only this once. On Komga a name that is already used fails
// with an [*Error] whose Code is [KomgaDuplicateKeyName] ("ERR_1034"). ComfyUI returns an error matching
// errors.ErrUnsupported.
func (c *Client) CreateAPIKey(ctx context.Context, r CreateAPIKeyRequest) (*CreatedAPIKey, error) {
	if c.spec.createKey == nil {
		return nil, c.spec.unsupportedErr("CreateAPIKey")
	}
	k, err := c.spec.createKey(ctx, c, r)
	if err == nil {
		c.secrets.add(k.Secret)
	}
	return k, err
}

// DeleteAPIKey deletes the API key with the given id (from [APIKeyInfo.ID]).
// A key that does not exist gives an error matching [ErrNotFound]. ComfyUI
// returns an error matching errors.ErrUnsupported.
func (c *Client) DeleteAPIKey(ctx context.Context, id string) error {
	if c.spec.deleteKey == nil {
		return c.spec.unsupportedErr("DeleteAPIKey")
	}
	return c.spec.deleteKey(ctx, c, id)
}

// RotationError reports a key rotation that did not complete. Stage says
// where it stopped; Err is the cause. When Stage is "verify" the new key did
// not work and was deleted again (RollbackErr says if that failed too) and
// the old key is untouched; when Stage is "delete old key" the new key works
// and is returned alongside the error, but the old key still exists.
type RotationError struct {
	Stage       string
	Err         error
	RollbackErr error
}

// Error describes the failed stage and its cause.
func (e *RotationError) Error() string {
	s := "authclient: key rotation failed at " + e.Stage + ": " + e.Err.Error()
	if e.RollbackErr != nil {
		s += " (and deleting the new key failed: " + e.RollbackErr.Error() + ")"
	}
	return s
}

// Unwrap returns the cause.
func (e *RotationError) Unwrap() error { return e.Err }

// RotateAPIKey replaces the key oldID with a new one, following Komga's
// published strategy: create the new key, verify that it authenticates,
// then delete the old one. If verification fails, the new key is deleted
// and the old one kept. The new key gets r's settings; an empty r.Name
// becomes the old name plus a "rotated" date stamp, and an empty r.UserID
// the old key's owner (Audiobookshelf).
//
// If the client itself authenticates with an API key, it switches to the
// new key once verified (the new key belongs to the same user), so a
// program can rotate its own key and carry on. The old key's existence is
// checked first: an unknown oldID fails with [ErrNotFound] before anything
// is created. Failures after that are a [*RotationError].
func (c *Client) RotateAPIKey(ctx context.Context, oldID string, r CreateAPIKeyRequest) (*CreatedAPIKey, error) {
	if c.spec.createKey == nil || c.spec.verifyKey == nil {
		return nil, c.spec.unsupportedErr("RotateAPIKey")
	}
	keys, err := c.ListAPIKeys(ctx)
	if err != nil {
		var ue *UnsupportedError
		if errors.As(err, &ue) { // Khoj in anonymous mode: name the operation asked for
			return nil, &UnsupportedError{Server: ue.Server, Op: "RotateAPIKey", Reason: ue.Reason}
		}
		return nil, err
	}
	var old *APIKeyInfo
	for i := range keys {
		if keys[i].ID == oldID {
			old = &keys[i]
			break
		}
	}
	if old == nil {
		return nil, &Error{Server: c.spec.server, Method: "-", URL: c.baseURL, StatusCode: 404,
			Message: "no API key with that id", kind: ErrNotFound}
	}
	if r.Name == "" {
		r.Name = rotatedName(old.Name, c.now())
	}
	if r.UserID == "" {
		r.UserID = old.UserID
	}
	nk, err := c.CreateAPIKey(ctx, r)
	if err != nil {
		return nil, &RotationError{Stage: "create", Err: err}
	}
	if err := c.spec.verifyKey(ctx, c, nk.Secret); err != nil {
		// Roll back with a context of its own: the caller's may be what failed.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return nil, &RotationError{Stage: "verify", Err: err, RollbackErr: c.DeleteAPIKey(rctx, nk.ID)}
	}
	if ka, ok := c.authenticator().(*keyAuth); ok {
		c.setAuthenticator(&keyAuth{p: ka.p, key: nk.Secret})
	}
	if err := c.DeleteAPIKey(ctx, oldID); err != nil && !errors.Is(err, ErrNotFound) {
		return nk, &RotationError{Stage: "delete old key", Err: err}
	}
	return nk, nil
}

// rotatedName derives a new key name from the old one (names must be
// unique on Komga).
func rotatedName(old string, now time.Time) string {
	const suffix = " (rotated "
	if i := strings.LastIndex(old, suffix); i >= 0 {
		old = old[:i]
	}
	stamp := suffix + now.UTC().Format("2006-01-02 15:04:05") + ")"
	// Khoj's limit is 50 characters: shorten the old name, on a character
	// boundary, rather than lose the stamp.
	if max := 50 - len(stamp); utf8.RuneCountInString(old) > max {
		old = string([]rune(old)[:max])
	}
	return old + stamp
}
