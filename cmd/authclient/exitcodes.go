package main

import (
	"errors"

	"github.com/selfhost-sdk/authclient"
)

// Exit codes, by category of failure. They are part of the command's
// interface (scripts branch on them): documented in --help and the README,
// never renumbered.
const (
	exitOK            = 0  // success
	exitFailure       = 1  // any other failure
	exitUsage         = 2  // bad command line: unknown command or flag, missing argument
	exitConfig        = 3  // bad configuration: URL, variables, secret files, options
	exitUnauthorized  = 4  // the server did not accept the credential
	exitForbidden     = 5  // the credential is valid but not allowed to do this
	exitUnavailable   = 6  // server unreachable, unavailable, failing or not the configured server
	exitRateLimited   = 7  // the server asked to slow down
	exitUnsupported   = 8  // the server lacks the operation
	exitNotFound      = 9  // no such key, or the key the job uses cannot be identified
	exitRollbackError = 10 // a rotation failed and so did its rollback: check the keys by hand
	exitOutput        = 11 // the secret or session could not be written where asked
)

// exitCodesHelp is the table printed by --help.
const exitCodesHelp = `Exit codes:
   0  success
   1  any other failure
   2  bad command line (unknown command or flag, missing argument)
   3  bad configuration (URL, <SERVER>_* variables, secret files)
   4  unauthorized: the server did not accept the credential
   5  forbidden: the credential is valid but not allowed to do this
   6  unreachable or unavailable: no answer, 502/503/504, a 5xx, or not the configured server
   7  rate limited: the server asked to slow down
   8  unsupported: the server lacks the operation
   9  not found: no such key, or the key the job uses cannot be identified
  10  a key rotation failed and its rollback failed too: check the keys by hand
  11  the new secret or the session could not be written where asked
`

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// outputError is a failure to write a secret or session file.
type outputError struct{ err error }

func (e *outputError) Error() string { return e.err.Error() }
func (e *outputError) Unwrap() error { return e.err }

// notIdentifiedError says the key the job uses could not be found.
type notIdentifiedError struct{ msg string }

func (e *notIdentifiedError) Error() string { return e.msg }

// exitCode maps an error to its exit code, by the SDK's sentinels and types.
func exitCode(err error) int {
	var (
		ue *usageError
		oe *outputError
		ni *notIdentifiedError
		re *authclient.RotationError
		ce *authclient.ConfigError
		te *authclient.TransportError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &oe):
		return exitOutput
	case errors.As(err, &re) && re.RollbackErr != nil:
		return exitRollbackError
	case errors.As(err, &ni):
		return exitNotFound
	case errors.As(err, &ce):
		return exitConfig
	case errors.Is(err, errors.ErrUnsupported):
		return exitUnsupported
	case errors.Is(err, authclient.ErrUnauthorized):
		return exitUnauthorized
	case errors.Is(err, authclient.ErrForbidden):
		return exitForbidden
	case errors.Is(err, authclient.ErrRateLimited):
		return exitRateLimited
	case errors.Is(err, authclient.ErrNotFound):
		return exitNotFound
	case errors.Is(err, authclient.ErrUnavailable), errors.Is(err, authclient.ErrServer),
		errors.Is(err, authclient.ErrUnexpectedServer), errors.Is(err, authclient.ErrRedirect),
		errors.As(err, &te):
		return exitUnavailable
	}
	return exitFailure
}

// category names an exit code in --json output.
func category(code int) string {
	return [...]string{"ok", "failure", "usage", "config", "unauthorized", "forbidden",
		"unavailable", "rate_limited", "unsupported", "not_found", "rollback_failed", "output"}[code]
}

// whatToCheck says what to look at for a failure, beyond the SDK's own hint.
func whatToCheck(code int, prefix string) string {
	switch code {
	case exitFailure:
		return "the server's message above says what it refused; run again with --verbose to see the requests"
	case exitUsage:
		return "run 'authclient help' or 'authclient COMMAND --help'"
	case exitConfig:
		return "check --server, --url and the " + prefix + "_* variables (" + prefix + "_URL, " + prefix + "_API_KEY or " + prefix + "_API_KEY_FILE, " + prefix + "_USERNAME, " + prefix + "_PASSWORD or " + prefix + "_PASSWORD_FILE)"
	case exitUnauthorized:
		return "check that " + prefix + "_API_KEY (or the password, or the session file) is current and belongs to this server"
	case exitForbidden:
		return "the credential works but lacks the rights for this: use an admin's, or ask for the role"
	case exitUnavailable:
		return "check " + prefix + "_URL (scheme, host, port and path prefix) and that the server and any proxy in front of it are up"
	case exitRateLimited:
		return "wait and try again later"
	case exitUnsupported:
		return "this server does not offer the operation; see 'authclient help'"
	case exitNotFound:
		return "list the keys with 'authclient keys list' and pass --id, or --name for Komga"
	case exitRollbackError:
		return "both keys may exist: list them with 'authclient keys list' and delete the one not in use"
	case exitOutput:
		return "check that the directory of the file exists and is writable"
	}
	return ""
}
