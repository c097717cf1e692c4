package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/selfhost-sdk/authclient"
	"github.com/stretchr/testify/assert"
)

// TestExitCodeMapping: every class of error maps to its code, wrapped or
// not, including those the fakes cannot produce end to end (a rotation whose
// rollback failed, a plain failure); every code has a name and a hint.
func TestExitCodeMapping(t *testing.T) {
	t.Parallel()
	rollback := &authclient.RotationError{Stage: "delete old key", Err: authclient.ErrForbidden, RollbackErr: authclient.ErrUnavailable}
	rolledBack := &authclient.RotationError{Stage: "verify", Err: authclient.ErrUnauthorized}
	for err, want := range map[error]int{
		errors.New("boom"):                                        exitFailure,
		&usageError{"x"}:                                          exitUsage,
		&authclient.ConfigError{Setting: "X_URL"}:                 exitConfig,
		authclient.ErrUnauthorized:                                exitUnauthorized,
		authclient.ErrForbidden:                                   exitForbidden,
		authclient.ErrUnavailable:                                 exitUnavailable,
		authclient.ErrServer:                                      exitUnavailable,
		authclient.ErrUnexpectedServer:                            exitUnavailable,
		authclient.ErrRedirect:                                    exitUnavailable,
		&authclient.TransportError{Err: context.DeadlineExceeded}: exitUnavailable,
		authclient.ErrRateLimited:                                 exitRateLimited,
		&authclient.UnsupportedError{Op: "X"}:                     exitUnsupported,
		authclient.ErrNotFound:                                    exitNotFound,
		&notIdentifiedError{"x"}:                                  exitNotFound,
		rollback:                                                  exitRollbackError,
		fmt.Errorf("rotating: %w", rollback):                      exitRollbackError,
		rolledBack:                                                exitUnauthorized,
		&outputError{errors.New("disk full")}:                     exitOutput,
		fmt.Errorf("ctx: %w", &usageError{"x"}):                   exitUsage,
	} {
		assert.Equal(t, want, exitCode(err), "%v", err)
	}
	assert.Equal(t, exitOK, exitCode(nil))
	for code := exitOK; code <= exitOutput; code++ {
		assert.NotEmpty(t, category(code))
		if code >= exitFailure {
			assert.NotEmpty(t, whatToCheck(code, "KOMGA"), "code %d", code)
		}
		assert.Contains(t, exitCodesHelp, fmt.Sprintf("%3d  ", code), "--help documents code %d", code)
	}
	assert.Contains(t, rotationFailure(rollback).Error(), "both keys may exist")
}
