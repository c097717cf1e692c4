package authclient

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfhost-sdk/authclient/authtest"
)

// matrixServers are the columns of the support matrix, in the doc's order.
var matrixServers = []Server{Komga, Audiobookshelf, ComfyUI, Khoj}

// matrixFake is one server's fake with an account the operations can use.
type matrixFake struct {
	fake     *authtest.Server
	url      string
	key      string // a working API key
	user, pw string // a password sign-in, if the server has one
}

func newMatrixFake(t *testing.T, s Server) *matrixFake {
	t.Helper()
	switch s {
	case Komga:
		k := authtest.NewKomga(authtest.WithPrefix("/komga"))
		t.Cleanup(k.Close)
		k.AddUser("admin@example.org", "matrix-password", "ADMIN")
		return &matrixFake{fake: k.Server, url: k.URL, key: k.AddAPIKey("admin@example.org", "matrix"),
			user: "admin@example.org", pw: "matrix-password"}
	case Audiobookshelf:
		a := authtest.NewAudiobookshelf(authtest.WithPrefix("/abs"))
		t.Cleanup(a.Close)
		return &matrixFake{fake: a.Server, url: a.URL, key: a.AddAPIKey("root", "matrix", 0, true),
			user: "root", pw: "root"}
	case ComfyUI:
		c := authtest.NewComfyUI("matrix-comfy-key", authtest.WithPrefix("/comfy"))
		t.Cleanup(c.Close)
		return &matrixFake{fake: c.Server, url: c.URL, key: "matrix-comfy-key"}
	case Khoj:
		k := authtest.NewKhoj(authtest.WithPrefix("/khoj"))
		t.Cleanup(k.Close)
		k.AddUser("user@example.org")
		return &matrixFake{fake: k.Server, url: k.URL, key: k.AddToken("user@example.org", "matrix")}
	}
	t.Fatalf("no fake for %s", s)
	return nil
}

// matrixCalls calls each operation the way a user would, on a new client
// for the fake (one per call, so that a Login does not change the next).
var matrixCalls = map[Operation]func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error{
	OpLogin: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		user, pw := f.user, f.pw
		if user == "" {
			user, pw = "someone", "some-password"
		}
		_, err := matrixClient(t, s, f).Login(ctx, user, pw)
		return err
	},
	OpRememberMe: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := New(s, f.url, fast, WithLogin("someone", "some-password"), WithRememberMe())
		return err
	},
	OpUseSession: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		return matrixClient(t, s, f).UseSession(&Session{Token: "matrix-session-token"})
	},
	OpParseSession: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := matrixClient(t, s, f).ParseSession([]byte(`{"user":{"id":"1","accessToken":"a.b.c"}}`))
		return err
	},
	OpParseUser: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := matrixClient(t, s, f).ParseUser([]byte(`{"id":"1","username":"root","type":"root"}`))
		return err
	},
	OpLogout: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		return matrixClient(t, s, f).Logout(ctx)
	},
	OpLogoutWithGET: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		return matrixClient(t, s, f).Logout(ctx, LogoutWithGET())
	},
	OpLogoutAllDevices: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		return matrixClient(t, s, f).Logout(ctx, LogoutAllDevices())
	},
	OpCurrentUser: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := matrixClient(t, s, f).CurrentUser(ctx)
		return err
	},
	OpCheckAuth: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		return matrixClient(t, s, f).CheckAuth(ctx)
	},
	OpHealth: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := matrixClient(t, s, f).Health(ctx)
		return err
	},
	OpProbe: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := matrixClient(t, s, f).Probe(ctx)
		return err
	},
	OpListAPIKeys: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := matrixClient(t, s, f).ListAPIKeys(ctx)
		return err
	},
	OpHeldAPIKey: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := matrixClient(t, s, f).HeldAPIKey(ctx)
		return err
	},
	OpCreateAPIKey: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := matrixClient(t, s, f).CreateAPIKey(ctx, CreateAPIKeyRequest{Name: "matrix-new"})
		return err
	},
	OpDeleteAPIKey: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		return matrixClient(t, s, f).DeleteAPIKey(ctx, "no-such-key")
	},
	OpRotateAPIKey: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := matrixClient(t, s, f).RotateAPIKey(ctx, "no-such-key", CreateAPIKeyRequest{Name: "matrix-rotated"})
		return err
	},
	OpListOAuthProviders: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		_, err := matrixClient(t, s, f).ListOAuthProviders(ctx)
		return err
	},
	OpPaginate: func(ctx context.Context, t *testing.T, s Server, f *matrixFake) error {
		for _, err := range Paginate[json.RawMessage](ctx, matrixClient(t, s, f), "api/v1/series") {
			return err
		}
		return nil
	},
}

// matrixBuiltOn names the operation an operation builds on: where the
// server lacks that one too, the error may name it (HeldAPIKey lists the
// keys first, so that Khoj's anonymous mode, found only by asking, says
// ListAPIKeys as on ComfyUI).
var matrixBuiltOn = map[Operation]Operation{OpHeldAPIKey: OpListAPIKeys}

func matrixClient(t *testing.T, s Server, f *matrixFake) *Client {
	t.Helper()
	c, err := New(s, f.url, fast, WithAPIKey(f.key))
	require.NoError(t, err)
	return c
}

// Every cell of the server × operation matrix, called as a user would:
// an operation the server lacks fails with an *UnsupportedError naming
// the server and the operation and saying why (errors.Is
// errors.ErrUnsupported, through a *ConfigError for an option given to
// New), and sends nothing; one it has never fails that way. Server.Supports
// answers the same as the call.
func TestSupportMatrix(t *testing.T) {
	t.Parallel()
	for _, s := range matrixServers {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			f := newMatrixFake(t, s)
			for _, op := range operations {
				call := matrixCalls[op]
				require.NotNil(t, call, "TestSupportMatrix has no call for %s", op)
				before := f.fake.TotalRequests()
				err := call(t.Context(), t, s, f)
				if !s.Supports(op) {
					require.ErrorIs(t, err, errors.ErrUnsupported, "%s on %s", op, s)
					var ue *UnsupportedError
					require.ErrorAs(t, err, &ue, "%s on %s", op, s)
					if pre, ok := matrixBuiltOn[op]; ok && ue.Op == pre {
						assert.False(t, s.Supports(pre), "%s on %s names %s, which the server has", op, s, pre)
					} else {
						assert.Equal(t, op, ue.Op)
					}
					assert.Equal(t, s, ue.Server)
					assert.NotEmpty(t, ue.Reason, "%s on %s says why", op, s)
					assert.Equal(t, before, f.fake.TotalRequests(), "%s on %s sent a request", op, s)
					continue
				}
				assert.NotErrorIs(t, err, errors.ErrUnsupported, "%s on %s", op, s)
			}
		})
	}
}

// The spec table says an operation is unsupported exactly where the
// server's row has no implementation of it: the reasons and the functions
// cannot drift apart.
func TestUnsupportedReasonsMatchImplementations(t *testing.T) {
	t.Parallel()
	for _, s := range matrixServers {
		spec := specs[s]
		has := map[Operation]bool{
			OpLogin:              spec.sessions != nil,
			OpRememberMe:         spec.sessions != nil && spec.sessions.resume != nil,
			OpUseSession:         spec.sessions != nil,
			OpParseSession:       spec.sessions != nil && spec.sessions.parse != nil,
			OpParseUser:          spec.parseUser != nil,
			OpLogout:             spec.sessions != nil || spec.sessionCookie != "",
			OpCurrentUser:        spec.currentUser != nil,
			OpCheckAuth:          spec.checkAuth != nil || spec.currentUser != nil,
			OpHealth:             spec.health != nil,
			OpProbe:              spec.probe != nil,
			OpListAPIKeys:        spec.listKeys != nil,
			OpHeldAPIKey:         spec.listKeys != nil && spec.holdsKey != nil,
			OpCreateAPIKey:       spec.createKey != nil,
			OpDeleteAPIKey:       spec.deleteKey != nil,
			OpRotateAPIKey:       spec.createKey != nil && spec.deleteKey != nil && spec.verifyKey != nil,
			OpListOAuthProviders: spec.oauthProviders != nil,
			OpPaginate:           spec.pages != nil,
		}
		for op, ok := range has {
			assert.Equal(t, ok, spec.require(op) == nil, "%s: %s implemented = %v, but the reasons table says otherwise", s, op, ok)
		}
		for op, reason := range spec.unsupported {
			assert.NotEmpty(t, reason, "%s: %s has no reason", s, op)
		}
		// The logout variants have no function of their own: the matrix
		// test calls them; here, at least, every server either offers
		// logout variants or says why not.
		if spec.require(OpLogout) != nil {
			assert.Error(t, spec.require(OpLogoutWithGET), s)
			assert.Error(t, spec.require(OpLogoutAllDevices), s)
		}
	}
	assert.False(t, Server("plex").Supports(OpLogin), "an unknown server supports nothing")
	assert.False(t, Komga.Supports(Operation("Format")), "an unknown operation is not supported")
	assert.True(t, Server("KOMGA").Supports(OpLogin), "server names are case-insensitive, as in New")
}

// operations lists every exported Op constant, once.
func TestOperationsListsEveryConstant(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "operations.go", nil, 0)
	require.NoError(t, err)
	var consts []Operation
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, sp := range g.Specs {
			for _, n := range sp.(*ast.ValueSpec).Names {
				if strings.HasPrefix(n.Name, "Op") {
					consts = append(consts, Operation(strings.Trim(sp.(*ast.ValueSpec).Values[0].(*ast.BasicLit).Value, `"`)))
				}
			}
		}
	}
	slices.Sort(consts)
	listed := slices.Clone(operations)
	slices.Sort(listed)
	assert.Equal(t, consts, listed)
}

// renderMatrix is the # Servers table of the package doc, from the data.
func renderMatrix() []string {
	names := make([]string, len(matrixServers))
	for i, s := range matrixServers {
		names[i] = specs[s].name
	}
	row := func(first string, cells []string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%-20s", first)
		for i, c := range cells {
			if i < len(cells)-1 {
				fmt.Fprintf(&b, "%-*s", len(names[i])+2, c)
			} else {
				b.WriteString(c)
			}
		}
		return b.String()
	}
	lines := []string{row("operation", names)}
	for _, op := range operations {
		cells := make([]string, len(matrixServers))
		for i, s := range matrixServers {
			cells[i] = "-"
			if s.Supports(op) {
				cells[i] = "yes"
			}
		}
		lines = append(lines, row(string(op), cells))
	}
	return lines
}

var updateSupportTable = flag.Bool("update-support-table", false, "rewrite the support tables of doc.go and README.md from the data")

// The package doc's and the README's support tables are the data's: a
// change to what a server supports fails here until both say it
// (go test -run TestSupportMatrixDocumented -update-support-table
// rewrites them).
func TestSupportMatrixDocumented(t *testing.T) {
	want := renderMatrix()
	for _, file := range []struct{ name, prefix string }{{"doc.go", "//\t"}, {"README.md", ""}} {
		b, err := os.ReadFile(file.name)
		require.NoError(t, err)
		lines := strings.Split(string(b), "\n")
		start, end := -1, -1
		for i, l := range lines {
			if start < 0 && strings.HasPrefix(l, file.prefix+"operation ") {
				start = i
			}
			if start >= 0 && (!strings.HasPrefix(l, file.prefix) || strings.HasPrefix(l, "```")) {
				end = i
				break
			}
		}
		require.True(t, start >= 0 && end > start, "%s has no support table", file.name)
		var got []string
		for _, l := range lines[start:end] {
			got = append(got, strings.TrimRight(strings.TrimPrefix(l, file.prefix), " "))
		}
		if *updateSupportTable {
			table := make([]string, len(want))
			for i, l := range want {
				table[i] = file.prefix + l
			}
			out := slices.Concat(lines[:start], table, lines[end:])
			require.NoError(t, os.WriteFile(file.name, []byte(strings.Join(out, "\n")), 0o644))
			continue
		}
		assert.Equal(t, strings.Join(want, "\n"), strings.Join(got, "\n"),
			"%s's support table; rewrite it with go test -run TestSupportMatrixDocumented -update-support-table", file.name)
	}
}
