//go:build unix

package authclient

import (
	"net"
	"strconv"
	"syscall"
	"testing"
)

// refusingAddr is a loopback address that refuses connections for as long
// as the test runs: a TCP socket bound to it that never listens. A port
// taken from a listener that was closed again may be bound by a parallel
// test's server before the test dials it.
func refusingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}
