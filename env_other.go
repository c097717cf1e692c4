//go:build !unix

package authclient

import "os"

// secretOpenFlags opens a secret file for reading.
const secretOpenFlags = os.O_RDONLY
