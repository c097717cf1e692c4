package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/selfhost-sdk/authclient"
	"github.com/selfhost-sdk/authclient/khoj"
)

const khojBootstrapHelp = `Usage: authclient khoj bootstrap --email ADDRESS [--name NAME] (--out FILE | --print-secret) [flags]

Sets a job up on Khoj without a browser: asks Khoj to e-mail a sign-in code
to ADDRESS, reads the code from stdin (one line), signs in with it and mints
a named API token, written to --out FILE (0600, atomic) or, with
--print-secret, stdout. Store it as KHOJ_API_KEY. Needs KHOJ_URL, and a Khoj
with e-mail configured.

  --email ADDRESS      the account's e-mail address
  --name NAME          the token's name (at most 50 characters; default: Khoj picks one)
  --out FILE           write the token to FILE
  --print-secret       print the token on stdout (and in --json output)

Example:
  KHOJ_URL=https://khoj.example authclient khoj bootstrap --server khoj \
    --email ci@example.org --name ci-job --out ./khoj.token
`

// maxCodeLine bounds the line the code is read from.
const maxCodeLine = 256

// runKhojBootstrap is "authclient khoj bootstrap".
func runKhojBootstrap(ctx context.Context, g *globals, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("khoj bootstrap", flag.ContinueOnError)
	email := fs.String("email", "", "")
	name := fs.String("name", "", "")
	var dest secretDest
	dest.register(fs)
	if pos, err := parseFlags(fs, g, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return &usageError{"khoj bootstrap takes no arguments"}
	}
	if g.server == "" {
		g.server = string(authclient.Khoj)
	}
	if *email == "" {
		return &usageError{"khoj bootstrap needs --email ADDRESS"}
	}
	e, err := newEnv(g, stdout, stderr, false)
	if err != nil {
		return err
	}
	kc, err := khoj.Wrap(e.client)
	if err != nil {
		return err
	}
	if err := dest.prepare(); err != nil {
		return err
	}
	defer dest.file.abort()
	if err := kc.SendMagicLink(ctx, *email); err != nil {
		return fmt.Errorf("asking Khoj to e-mail a code: %w", err)
	}
	fmt.Fprintf(stderr, "A sign-in code was e-mailed to %s. Type it and press Enter:\n", *email)
	code, err := readCode(stdin)
	if err != nil {
		return err
	}
	k, err := kc.BootstrapToken(ctx, *email, code, *name)
	if err != nil {
		return fmt.Errorf("signing in with the code and minting the token: %w", err)
	}
	if err := dest.store(k.Secret); err != nil {
		if derr := e.client.DeleteAPIKey(context.WithoutCancel(ctx), k.ID); derr != nil {
			return fmt.Errorf("%w; deleting the new token failed too: %v", err, derr)
		}
		return fmt.Errorf("%w; the new token was deleted again", err)
	}
	j, text := dest.result(k, "minted")
	return e.out.result(j, text)
}

// readCode reads the e-mailed code: one line, bounded, trimmed.
func readCode(stdin io.Reader) (string, error) {
	r := bufio.NewReaderSize(io.LimitReader(stdin, maxCodeLine+1), maxCodeLine+1)
	line, err := r.ReadString('\n')
	if err != nil && err != io.EOF {
		return "", &usageError{"cannot read the code from stdin"}
	}
	if len(line) > maxCodeLine {
		return "", &usageError{"the code read from stdin is too long: type the code only"}
	}
	code := strings.TrimSpace(line)
	if code == "" {
		return "", &usageError{"no code on stdin: type the code from the e-mail"}
	}
	if strings.ContainsFunc(code, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &usageError{"the code read from stdin has control characters: type the code only"}
	}
	return code, nil
}
