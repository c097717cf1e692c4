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
	if err := c.spec.require(OpListAPIKeys); err != nil {
		return nil, err
	}
	return c.spec.listKeys(ctx, c)
}

// CreateAPIKey creates an API key and returns it with its secret, which the
// server shows only this once. On Komga a name that is already used fails
// with an [*Error] whose Code is [KomgaDuplicateKeyName] ("ERR_1034"). ComfyUI returns an error matching
// errors.ErrUnsupported.
func (c *Client) CreateAPIKey(ctx context.Context, r CreateAPIKeyRequest) (*CreatedAPIKey, error) {
	if err := c.spec.require(OpCreateAPIKey); err != nil {
		return nil, err
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
	if err := c.spec.require(OpDeleteAPIKey); err != nil {
		return err
	}
	return c.spec.deleteKey(ctx, c, id)
}

// RotationError reports a key rotation that did not complete, and the
// state it left. Stage says where it stopped: "create" (nothing was
// created), "verify" (the new key did not authenticate) or "delete old
// key". After a failed verification or deletion the rotation is rolled
// back: the client goes back to the old key and the new key is deleted, so
// the old key is in use as before; RollbackErr says if that failed too.
// The fields say exactly which keys exist and which one the client uses.
// It unwraps to the cause, so errors.Is(err, [ErrForbidden]) and the like
// work.
type RotationError struct {
	// Stage is the step that failed: "create", "verify" or "delete old key".
	Stage string
	// Err is the cause.
	Err error
	// RollbackErr is why the rollback failed, if it did: deleting the new
	// key (NewKeyDeleted is then false and both keys exist), or checking
	// whether the old key survived a failed deletion (then the new key is
	// kept, and the client uses it if it had switched to it).
	RollbackErr error
	// OldKeyID is the key being replaced; NewKeyID the key created for it
	// ("" if none was).
	OldKeyID, NewKeyID string
	// OldKeyDeleted reports that the old key no longer exists.
	OldKeyDeleted bool
	// NewKeyDeleted reports that the new key was deleted again (rolled
	// back).
	NewKeyDeleted bool
	// ClientKeyID is the rotated key the client authenticates with after
	// the failure, OldKeyID or NewKeyID; "" when it authenticates with
	// neither (a session, or an API key other than the one rotated), or
	// when the server cannot tell which key it holds (Komga: the client
	// then kept the key it had).
	ClientKeyID string
}

// Error describes the failed stage, its cause and the state left. It names
// no key (Khoj's key ids are derived from the keys).
func (e *RotationError) Error() string {
	s := "authclient: key rotation failed at " + e.Stage + ": " + e.Err.Error() + "; "
	switch {
	case e.NewKeyID == "":
		s += "nothing was created"
	case e.NewKeyDeleted:
		s += "rolled back: the new key was deleted"
	case e.OldKeyDeleted:
		s += "the old key was deleted, the new key kept"
	default:
		s += "the new key still exists"
	}
	if e.RollbackErr != nil {
		s += " (rollback failed: " + e.RollbackErr.Error() + ")"
	}
	if e.OldKeyDeleted {
		s += "; the old key no longer exists"
	} else if e.RollbackErr != nil && e.Stage == "delete old key" && !e.NewKeyDeleted {
		s += "; the old key may still exist"
	} else {
		s += "; the old key still exists"
	}
	switch e.ClientKeyID {
	case "":
		s += "; the client's own credential is unchanged"
	case e.OldKeyID:
		s += "; the client uses the old key"
	default:
		s += "; the client uses the new key"
	}
	return s
}

// Unwrap returns the cause.
func (e *RotationError) Unwrap() error { return e.Err }

// RotateAPIKey replaces the key oldID with a new one, following Komga's
// published strategy: create the new key, verify that it authenticates,
// then delete the old one. The new key belongs to the old key's user, with
// the old key's lifetime (Audiobookshelf, when it expires) and active; r
// may set the name (an empty r.Name becomes the old name plus a "rotated"
// date stamp) and the lifetime. r.UserID, if set, must be the old key's
// user and r.Inactive must be false: a rotation never changes who a key
// acts as.
//
// The client switches to the new key only when the key rotated is the one
// it authenticates with, so a program can rotate its own key and carry on,
// while an admin rotating another user's key stays itself. Which key the
// client holds is per-server: Audiobookshelf compares the keyId claim of
// the client's key (read locally) with oldID, Khoj the token's
// fingerprint; Komga, which lists its keys masked, cannot tell, so once the
// old key is deleted the client checks its own key and switches only if it
// stopped working. A client with a session never switches.
//
// The old key's existence is checked first: an unknown oldID fails with
// [ErrNotFound] before anything is created. Failures after that are a
// [*RotationError]: the rotation is rolled back (the new key deleted, the
// client back on the old key) and the error says what state it left.
func (c *Client) RotateAPIKey(ctx context.Context, oldID string, r CreateAPIKeyRequest) (*CreatedAPIKey, error) {
	if err := c.spec.require(OpRotateAPIKey); err != nil {
		return nil, err
	}
	old, err := c.findAPIKey(ctx, oldID)
	if err != nil {
		var ue *UnsupportedError
		if errors.As(err, &ue) { // Khoj in anonymous mode: name the operation asked for
			return nil, &UnsupportedError{Server: ue.Server, Op: "RotateAPIKey", Reason: ue.Reason}
		}
		return nil, err
	}
	if old == nil {
		return nil, c.localError(ErrNotFound, "-", nil, "no API key with that id")
	}
	if r.Inactive {
		return nil, configErr("CreateAPIKeyRequest.Inactive", "a rotated key is created active (deactivate it afterwards with audiobookshelf.Client.SetAPIKeyActive)")
	}
	if r.UserID != "" && old.UserID != "" && r.UserID != old.UserID {
		return nil, configErr("CreateAPIKeyRequest.UserID", "a rotated key keeps the old key's user; create a key for another user with CreateAPIKey")
	}
	if r.Name == "" {
		r.Name = rotatedName(old.Name, c.now())
	}
	if r.UserID == "" {
		r.UserID = old.UserID
	}
	if r.ExpiresIn == 0 && !old.ExpiresAt.IsZero() && old.ExpiresAt.Sub(old.CreatedAt) >= time.Second {
		r.ExpiresIn = old.ExpiresAt.Sub(old.CreatedAt).Round(time.Second) // the same lifetime, from now
	}

	ka, _ := c.authenticator().(*keyAuth)
	held := ka != nil && c.spec.holdsKey != nil && c.spec.holdsKey(ka.key, *old)
	e := &RotationError{OldKeyID: oldID}
	if held {
		e.ClientKeyID = oldID
	}
	nk, err := c.CreateAPIKey(ctx, r)
	if err != nil {
		e.Stage, e.Err = "create", err
		return nil, e
	}
	e.NewKeyID = nk.ID
	if err := c.spec.verifyKey(ctx, c, nk.Secret); err != nil {
		e.Stage, e.Err = "verify", err
		return nil, c.rollBackRotation(ctx, e, nil, nil)
	}
	var switched *keyAuth
	if held && c.authenticator() == ka {
		switched = &keyAuth{p: ka.p, key: nk.Secret}
		c.setAuthenticator(switched)
		e.ClientKeyID = nk.ID
	}
	if err := c.DeleteAPIKey(ctx, oldID); err != nil && !errors.Is(err, ErrNotFound) {
		e.Stage, e.Err = "delete old key", err
		return c.rollBackDeleteFailure(ctx, e, nk, ka, switched)
	}
	if ka != nil && c.spec.holdsKey == nil && c.authenticator() == ka {
		c.adoptIfRotated(ctx, ka, nk)
	}
	return nk, nil
}

// adoptIfRotated switches the client to the new key nk if the key it
// authenticates with, ka, was the one just rotated away, on a server that
// cannot tell which key the client holds (Komga lists its keys masked): the
// old key is gone now, so the client's key no longer working says it was
// that one. If the check fails for another reason the client switches too:
// the new key is known to work and belongs to the same user (every key the
// client can rotate there is its own user's), so that never changes who it
// is, while keeping a deleted key would.
func (c *Client) adoptIfRotated(ctx context.Context, ka *keyAuth, nk *CreatedAPIKey) {
	if c.spec.verifyKey(ctx, c, ka.key) != nil {
		c.setAuthenticator(&keyAuth{p: ka.p, key: nk.Secret})
	}
}

// findAPIKey returns the listed key with the given id, or nil.
func (c *Client) findAPIKey(ctx context.Context, id string) (*APIKeyInfo, error) {
	keys, err := c.ListAPIKeys(ctx)
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if keys[i].ID == id {
			return &keys[i], nil
		}
	}
	return nil, nil
}

// rotationCleanupTimeout bounds the requests that undo a failed rotation.
const rotationCleanupTimeout = 30 * time.Second

// rollBackRotation puts the client back on its old key (if it had switched
// to the new one) and deletes the new key, with a context of its own (the
// caller's may be what failed), and records the result in e.
func (c *Client) rollBackRotation(ctx context.Context, e *RotationError, held, switched *keyAuth) error {
	if switched != nil && c.authenticator() == switched {
		c.setAuthenticator(held)
		e.ClientKeyID = e.OldKeyID
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rotationCleanupTimeout)
	defer cancel()
	if err := c.DeleteAPIKey(rctx, e.NewKeyID); err != nil && !errors.Is(err, ErrNotFound) {
		e.RollbackErr = err
		return e
	}
	e.NewKeyDeleted = true
	return e
}

// rollBackDeleteFailure handles a failed deletion of the old key. A
// deletion can fail after the server did it (the answer was lost), and
// rolling back then would leave no working key, so the old key's existence
// is checked first: gone means the rotation completed; still there means
// roll back; unknown means keep the new key.
func (c *Client) rollBackDeleteFailure(ctx context.Context, e *RotationError, nk *CreatedAPIKey, held, switched *keyAuth) (*CreatedAPIKey, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rotationCleanupTimeout)
	defer cancel()
	old, err := c.findAPIKey(rctx, e.OldKeyID)
	switch {
	case err != nil:
		e.RollbackErr = fmt.Errorf("checking whether the old key still exists: %w", err)
		return nk, e
	case old == nil:
		return nk, nil // the deletion happened; only its answer failed
	}
	return nil, c.rollBackRotation(ctx, e, held, switched)
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
