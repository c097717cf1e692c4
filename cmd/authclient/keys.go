package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/selfhost-sdk/authclient"
)

const keysListHelp = `Usage: authclient keys list [flags]

Lists the API keys (Khoj: API tokens) without their secrets: Komga and Khoj
the signed-in user's, Audiobookshelf every key on the server (admins only).

Example:
  authclient keys list --server audiobookshelf --json
`

const keysCreateHelp = `Usage: authclient keys create --name NAME (--out FILE | --print-secret) [flags]

Creates an API key. Its secret is shown only this once, and is written only
where you say: to --out FILE (created 0600, atomically: a temporary file in
the same directory, synced, then renamed, so never a partial key), or to
stdout with --print-secret. If the file cannot be written, the key is
deleted again.

  --name NAME          the key's name (Komga: its comment, unique per user)
  --expires-in D       make the key expire, e.g. 720h (Audiobookshelf)
  --user-id ID         the user the key acts as (Audiobookshelf; default: you)
  --out FILE           write the secret to FILE
  --print-secret       print the secret on stdout (and in --json output)

Example:
  authclient keys create --server komga --name ci-job --out ./komga.key
`

const keysDeleteHelp = `Usage: authclient keys delete ID [flags]

Deletes the API key with that id (from 'authclient keys list').

Example:
  authclient keys delete --server khoj 3f2a…
`

const keysRotateHelp = `Usage: authclient keys rotate [--id ID | --name NAME] (--out FILE | --print-secret) [flags]

Replaces an API key: creates the new key, verifies that it works, then
deletes the old one; when verifying or deleting fails, the new key is
deleted again and the old one kept (exit code by the cause, or 10 if that
rollback failed too). Without --id it rotates the key the job is using,
found where the server allows:
  Audiobookshelf  from the key itself (its keyId claim); admins only
  Khoj            by matching the token among the listed tokens
  Komga           keys are listed masked: pass --name with the key's name
                  (comment), or --id; it refuses when no single key matches
  ComfyUI         has one static key: rotate it in ComfyUI's configuration
The new secret goes to --out FILE (0600, atomic) or, with --print-secret,
stdout; the file is prepared (created, its space reserved) before anything
changes on the server.

  --id ID              the key to rotate
  --name NAME          Komga: the name (comment) of the key the job uses; it
                       also matches the name with the " (rotated DATE)" stamp
                       an earlier rotation added, so the same --name works
                       every month
  --new-name NAME      the new key's name (default: the old name and a date)
  --expires-in D       the new key's lifetime (Audiobookshelf; default: the old one's)
  --out FILE           write the new secret to FILE
  --print-secret       print the new secret on stdout (and in --json output)

Example:
  authclient keys rotate --server komga --name ci-job --out ./komga.key
`

// keyJSON is a key in --json output; Secret only with --print-secret.
type keyJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	UserID    string     `json:"user_id,omitempty"`
	Username  string     `json:"username,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Active    bool       `json:"active"`
	Secret    string     `json:"secret,omitempty"`
	Out       string     `json:"out,omitempty"`
}

func toKeyJSON(k authclient.APIKeyInfo) keyJSON {
	j := keyJSON{ID: k.ID, Name: k.Name, UserID: k.UserID, Username: k.Username, Active: k.Active}
	if !k.CreatedAt.IsZero() {
		j.CreatedAt = &k.CreatedAt
	}
	if !k.ExpiresAt.IsZero() {
		j.ExpiresAt = &k.ExpiresAt
	}
	return j
}

// runKeysList is "authclient keys list".
func runKeysList(ctx context.Context, g *globals, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if pos, err := parseFlags(flag.NewFlagSet("keys list", flag.ContinueOnError), g, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return &usageError{"keys list takes no arguments"}
	}
	e, err := newEnv(g, stdout, stderr, true)
	if err != nil {
		return err
	}
	keys, err := e.client.ListAPIKeys(ctx)
	if err != nil {
		return e.finish(fmt.Errorf("listing API keys: %w", err))
	}
	list := make([]keyJSON, 0, len(keys))
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tUSER\tCREATED\tEXPIRES\tACTIVE")
	for _, k := range keys {
		list = append(list, toKeyJSON(k))
		user := k.Username
		if user == "" {
			user = k.UserID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\n", k.ID, k.Name, dash(user), day(k.CreatedAt), day(k.ExpiresAt), k.Active)
	}
	tw.Flush()
	return e.finish(e.out.result(list, b.String()))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateOnly)
}

// secretDest is where a new secret goes: --out or --print-secret.
type secretDest struct {
	out   string
	print bool
	file  *pendingFile
}

func (d *secretDest) register(fs *flag.FlagSet) {
	fs.StringVar(&d.out, "out", "", "")
	fs.BoolVar(&d.print, "print-secret", false, "")
}

// prepare checks the destination and opens the output file, before any
// secret exists.
func (d *secretDest) prepare() error {
	if d.out == "" && !d.print {
		return &usageError{"say where the new secret goes: --out FILE (recommended) or --print-secret (stdout)"}
	}
	if d.out != "" {
		f, err := prepareFile(d.out)
		if err != nil {
			return err
		}
		d.file = f
	}
	return nil
}

// store writes the secret to the file, if any.
func (d *secretDest) store(secret string) error {
	if d.file == nil {
		return nil
	}
	return d.file.commit([]byte(secret)) // no line break: the file may be pasted into a variable as it is
}

// result is the key's output, with the secret only if asked.
func (d *secretDest) result(k *authclient.CreatedAPIKey, verb string) (keyJSON, string) {
	j := toKeyJSON(k.APIKeyInfo)
	j.Out = d.out
	var b strings.Builder
	fmt.Fprintf(&b, "%s API key %q (id %s)\n", verb, k.Name, k.ID)
	if d.out != "" {
		fmt.Fprintf(&b, "secret written to %s (mode 0600)\n", d.out)
	}
	if d.print {
		j.Secret = k.Secret
		fmt.Fprintf(&b, "%s\n", k.Secret)
	}
	return j, b.String()
}

// runKeysCreate is "authclient keys create".
func runKeysCreate(ctx context.Context, g *globals, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	var r authclient.CreateAPIKeyRequest
	var dest secretDest
	fs.StringVar(&r.Name, "name", "", "")
	fs.DurationVar(&r.ExpiresIn, "expires-in", 0, "")
	fs.StringVar(&r.UserID, "user-id", "", "")
	dest.register(fs)
	if pos, err := parseFlags(fs, g, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return &usageError{"keys create takes no arguments (name the key with --name)"}
	}
	e, err := newEnv(g, stdout, stderr, true)
	if err != nil {
		return err
	}
	if err := dest.prepare(); err != nil {
		return err
	}
	defer dest.file.abort()
	k, err := e.client.CreateAPIKey(ctx, r)
	if err != nil {
		return e.finish(fmt.Errorf("creating the API key: %w", err))
	}
	if err := dest.store(k.Secret); err != nil {
		if derr := e.client.DeleteAPIKey(context.WithoutCancel(ctx), k.ID); derr != nil {
			return e.finish(fmt.Errorf("%w; deleting the new key %s failed too: %v", err, k.ID, derr))
		}
		return e.finish(fmt.Errorf("%w; the new key was deleted again", err))
	}
	j, text := dest.result(k, "created")
	return e.finish(e.out.result(j, text))
}

// runKeysDelete is "authclient keys delete".
func runKeysDelete(ctx context.Context, g *globals, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys delete", flag.ContinueOnError)
	id := fs.String("id", "", "")
	pos, err := parseFlags(fs, g, args)
	if err != nil {
		return err
	}
	switch {
	case *id == "" && len(pos) == 1:
		*id = pos[0]
	case *id == "" || len(pos) > 0:
		return &usageError{"keys delete takes one key id (see 'authclient keys list')"}
	}
	e, err := newEnv(g, stdout, stderr, true)
	if err != nil {
		return err
	}
	if err := e.client.DeleteAPIKey(ctx, *id); err != nil {
		return e.finish(fmt.Errorf("deleting API key %s: %w", truncate(*id, 80), err))
	}
	return e.finish(e.out.result(struct {
		Deleted string `json:"deleted"`
	}{*id}, fmt.Sprintf("deleted API key %s\n", *id)))
}

// rotateJSON is rotate's --json output.
type rotateJSON struct {
	OldID string  `json:"old_id"`
	New   keyJSON `json:"new"`
}

// runKeysRotate is "authclient keys rotate".
func runKeysRotate(ctx context.Context, g *globals, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	var r authclient.CreateAPIKeyRequest
	var dest secretDest
	id := fs.String("id", "", "")
	name := fs.String("name", "", "")
	fs.StringVar(&r.Name, "new-name", "", "")
	fs.DurationVar(&r.ExpiresIn, "expires-in", 0, "")
	dest.register(fs)
	if pos, err := parseFlags(fs, g, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return &usageError{"keys rotate takes no arguments (use --id or --name)"}
	}
	if *id != "" && *name != "" {
		return &usageError{"give --id or --name, not both"}
	}
	e, err := newEnv(g, stdout, stderr, true)
	if err != nil {
		return err
	}
	if !e.server.Supports(authclient.OpRotateAPIKey) {
		_, err := e.client.RotateAPIKey(ctx, "", r) // the SDK's own *UnsupportedError, with its reason; nothing is sent
		return err
	}
	if err := dest.prepare(); err != nil {
		return err
	}
	defer dest.file.abort()
	oldID := *id
	if oldID == "" {
		if oldID, err = e.heldKeyID(ctx, *name); err != nil {
			return e.finish(err)
		}
	}
	k, err := e.client.RotateAPIKey(ctx, oldID, r)
	if err != nil {
		return e.finish(rotationFailure(err))
	}
	if err := dest.store(k.Secret); err != nil {
		return e.finish(fmt.Errorf("%w; the rotation itself completed (new key %s, the old key is deleted), so the new secret is lost: rotate again with an admin credential", err, k.ID))
	}
	j, text := dest.result(k, "rotated to")
	return e.finish(e.out.result(rotateJSON{OldID: oldID, New: j}, fmt.Sprintf("replaced API key %s\n", oldID)+text))
}

// heldKeyID finds the id of the key the job uses: from the key itself where
// the server allows, else (Komga) by the name the user gave.
func (e *env) heldKeyID(ctx context.Context, name string) (string, error) {
	if name == "" {
		var ue *authclient.UnsupportedError
		k, err := e.client.HeldAPIKey(ctx)
		switch {
		case err == nil:
			return k.ID, nil
		case errors.As(err, &ue) && ue.Op == "HeldAPIKey": // the server cannot tell (Komga)
			return "", &notIdentifiedError{fmt.Sprintf("cannot tell which key this job uses: %s lists its API keys masked; pass --name with the key's name (comment) or --id", e.server)}
		case errors.Is(err, authclient.ErrNotFound):
			var ae *authclient.Error
			why := "the configured credential is not one of the listed API keys"
			if errors.As(err, &ae) && ae.Message != "" {
				why = ae.Message
			}
			return "", &notIdentifiedError{"cannot tell which key this job uses: " + why + "; pass --id"}
		}
		return "", fmt.Errorf("finding the key this job uses: %w", err) // ComfyUI, Khoj in anonymous mode: unsupported
	}
	keys, err := e.client.ListAPIKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("listing API keys: %w", err)
	}
	var found []string
	for _, k := range keys {
		if strings.EqualFold(k.Name, name) || strings.EqualFold(baseName(k.Name), name) {
			found = append(found, k.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", &notIdentifiedError{fmt.Sprintf("no API key is named %q: see 'authclient keys list'", truncate(name, 80))}
	}
	return "", &notIdentifiedError{fmt.Sprintf("%d API keys are named %q: pass --id", len(found), truncate(name, 80))}
}

// rotatedStamp is what a rotation adds to a key's name when no new name is
// given ("ci (rotated 2026-01-01 00:00:00)"), so that names stay unique.
const rotatedStamp = " (rotated "

// baseName is a key's name without a rotation's stamp, so that --name finds
// the key again after each monthly rotation.
func baseName(n string) string {
	if i := strings.LastIndex(n, rotatedStamp); i >= 0 && strings.HasSuffix(n, ")") {
		return n[:i]
	}
	return n
}

// rotationFailure says what state a failed rotation left.
func rotationFailure(err error) error {
	var re *authclient.RotationError
	if !errors.As(err, &re) {
		return fmt.Errorf("rotating the API key: %w", err)
	}
	switch {
	case re.RollbackErr != nil:
		return fmt.Errorf("rotating the API key failed and so did the rollback (both keys may exist; old %s, new %s): %w", re.OldKeyID, dash(re.NewKeyID), err)
	case re.Stage == "create":
		return fmt.Errorf("rotating the API key: nothing changed, the old key is kept: %w", err)
	}
	return fmt.Errorf("rotating the API key was rolled back: the old key %s is kept and still in use, the new key was deleted: %w", re.OldKeyID, err)
}
