package authclient

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serverPackages are the per-server packages (and the CLI, cmd/authclient), written only against the
// root's public API.
var serverPackages = []string{"audiobookshelf", "comfyui", "khoj", "komga", "cmd/authclient"}

// A server package may not import an internal/ package of this module (a
// back door past the public core), nor build an authclient.Error itself
// (every non-2xx is classified once, in the core). The class: every import
// of every Go file, tests included, and every composite literal of the
// type (&authclient.Error{…}, authclient.Error{…}, under any import name).
func TestServerPackagesUseOnlyThePublicCore(t *testing.T) {
	t.Parallel()
	for _, pkg := range serverPackages {
		files, err := filepath.Glob(filepath.Join(pkg, "*.go"))
		require.NoError(t, err)
		require.NotEmpty(t, files, pkg)
		for _, f := range files {
			parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			require.NoError(t, err, f)
			names := map[string]bool{} // the names the root is imported as
			for _, imp := range parsed.Imports {
				path, err := strconv.Unquote(imp.Path.Value)
				require.NoError(t, err)
				assert.False(t, path == "internal" || strings.HasPrefix(path, "internal/") || strings.Contains(path, "/internal/") ||
					strings.HasSuffix(path, "/internal"), "%s imports %s", f, path)
				if path == "github.com/selfhost-sdk/authclient" {
					name := "authclient"
					if imp.Name != nil {
						name = imp.Name.Name
					}
					names[name] = true
				}
			}
			ast.Inspect(parsed, func(n ast.Node) bool {
				lit, ok := n.(*ast.CompositeLit)
				if !ok {
					return true
				}
				if sel, ok := lit.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Error" {
					if x, ok := sel.X.(*ast.Ident); ok && names[x.Name] {
						t.Errorf("%s builds an authclient.Error literal", f)
					}
				}
				return true
			})
		}
	}
}
