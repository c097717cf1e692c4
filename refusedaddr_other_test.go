//go:build !unix

package authclient

import (
	"net"
	"testing"
)

// refusingAddr is a loopback address nobody listens on: the port of a
// listener closed again (a parallel test's server may bind it meanwhile;
// refusedaddr_unix_test.go holds the port instead).
func refusingAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
