package authclient_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// snippetImports are the packages README snippets may use, by the name
// they are used under.
var snippetImports = map[string]string{
	"authclient":     "github.com/selfhost-sdk/authclient",
	"authtest":       "github.com/selfhost-sdk/authclient/authtest",
	"komga":          "github.com/selfhost-sdk/authclient/komga",
	"khoj":           "github.com/selfhost-sdk/authclient/khoj",
	"comfyui":        "github.com/selfhost-sdk/authclient/comfyui",
	"audiobookshelf": "github.com/selfhost-sdk/authclient/audiobookshelf",
	"websocket":      "github.com/coder/websocket",
	"context":        "context",
	"errors":         "errors",
	"fmt":            "fmt",
	"http":           "net/http",
	"io":             "io",
	"json":           "encoding/json",
	"log":            "log",
	"os":             "os",
	"slog":           "log/slog",
	"strings":        "strings",
	"time":           "time",
	"url":            "net/url",
}

// snippetPrelude declares what README snippets take as given: a context,
// a client, a file to upload and the like. A snippet runs in a block of
// its own, so it may declare these names again.
const snippetPrelude = `
type Series struct{ Name string }

func saveSession(authclient.Session)                {}
func loadSession() (*authclient.Session, bool) { return nil, false }

func snippet%d() error {
	var (
		ctx          context.Context
		c            *authclient.Client
		file         *os.File
		out          io.Writer
		id, path     string
		code         string
		keyID        string
		landedOnURL  string // where the browser landed after an OpenID sign-in
		workflowJSON map[string]any
	)
	_, _, _, _, _, _, _, _, _, _ = ctx, c, file, out, id, path, code, keyID, landedOnURL, workflowJSON
`

// Every Go snippet of the README compiles against the current API, and so
// does every program under examples/: a renamed or removed identifier, a
// changed signature or a wrong argument fails here, not in a reader's
// editor. Each snippet becomes a function in a package of its own, laid
// over the module with go build -overlay (nothing is written to the
// tree); names it declares and does not use are marked used, so only real
// errors fail.
//
// The build runs once per test binary: -count=20 reruns the test, not the
// compiler, on the same files.
func TestReadmeSnippetsAndExamplesCompile(t *testing.T) {
	t.Parallel()
	snippetBuild.once.Do(func() { snippetBuild.out, snippetBuild.err = buildSnippets() })
	if snippetBuild.err != nil {
		t.Fatalf("README snippets or examples do not compile: %v\n%s\n(snippet N is the README's Nth Go block, counting from 0)", snippetBuild.err, snippetBuild.out)
	}
}

var snippetBuild struct {
	once sync.Once
	out  []byte
	err  error
}

func buildSnippets() ([]byte, error) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		gocmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		return nil, err
	}
	snippets := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(snippets) == 0 {
		return nil, errors.New("the README has no Go snippets")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "readme-snippets")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	overlay := map[string]string{}
	pkgs := []string{"./examples/..."}
	for i, m := range snippets {
		src, err := snippetFile(i, string(m[1]))
		if err != nil {
			return []byte(m[1]), fmt.Errorf("snippet %d does not parse: %w", i, err)
		}
		real := filepath.Join(dir, fmt.Sprintf("snippet%d.go", i))
		if err := os.WriteFile(real, []byte(src), 0o600); err != nil {
			return nil, err
		}
		// A directory that does not exist in the module, seen only by
		// this go build through the overlay.
		rel := fmt.Sprintf("readme_snippet_%d_%d", os.Getpid(), i)
		overlay[filepath.Join(root, rel, "snippet.go")] = real
		pkgs = append(pkgs, "./"+rel)
	}
	ov, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		return nil, err
	}
	ovFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ovFile, ov, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(gocmd, append([]string{"build", "-overlay", ovFile, "-o", os.DevNull}, pkgs...)...)
	cmd.Dir = root
	return cmd.CombinedOutput()
}

// snippetFile turns one README snippet into a Go file: its import lines
// dropped (the file imports what it uses), its body in a block, and a
// _ = name for each name it declares at the top.
func snippetFile(n int, snippet string) (string, error) {
	var body []string
	for _, l := range strings.Split(snippet, "\n") {
		if strings.HasPrefix(l, "import ") {
			continue
		}
		body = append(body, l)
	}
	block := strings.Join(body, "\n")
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", "package p\nfunc f() error {\n"+block+"\nreturn nil\n}", parser.SkipObjectResolution)
	if err != nil {
		return "", err
	}
	fn := f.Decls[0].(*ast.FuncDecl)
	var declared []string
	for _, st := range fn.Body.List {
		switch s := st.(type) {
		case *ast.AssignStmt:
			if s.Tok == token.DEFINE {
				for _, l := range s.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
						declared = append(declared, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			if g, ok := s.Decl.(*ast.GenDecl); ok && g.Tok == token.VAR {
				for _, sp := range g.Specs {
					for _, id := range sp.(*ast.ValueSpec).Names {
						declared = append(declared, id.Name)
					}
				}
			}
		}
	}
	slices.Sort(declared)
	declared = slices.Compact(declared)
	used := map[string]bool{"authclient": true, "context": true, "os": true, "io": true}
	ast.Inspect(fn.Body, func(x ast.Node) bool {
		if sel, ok := x.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && snippetImports[id.Name] != "" {
				used[id.Name] = true
			}
		}
		return true
	})
	var b strings.Builder
	b.WriteString("package snippet\n\nimport (\n")
	names := make([]string, 0, len(used))
	for name := range used {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "\t%s %q\n", name, snippetImports[name])
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, snippetPrelude, n)
	b.WriteString("\t{\n" + block + "\n")
	for _, name := range declared {
		fmt.Fprintf(&b, "\t_ = %s\n", name)
	}
	b.WriteString("\t}\n\treturn nil\n}\n")
	return b.String(), nil
}

// The README's layout names every file of the root package, so a reader
// finds each concept where the list says.
func TestReadmeLayoutListsEveryRootFile(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(readme), "## Layout")
	if i < 0 {
		t.Fatal("the README has no Layout section")
	}
	layout := string(readme[i:])
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") && !strings.Contains(layout, "`"+f+"`") {
			t.Errorf("README's Layout does not list %s", f)
		}
	}
}
