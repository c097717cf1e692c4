//go:build unix

package authclient

import (
	"os"
	"syscall"
)

// secretOpenFlags opens a secret file without blocking: opening a named
// pipe for reading would otherwise wait for a writer.
const secretOpenFlags = os.O_RDONLY | syscall.O_NONBLOCK
