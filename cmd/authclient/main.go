// Command authclient checks credentials, rotates API keys and keeps
// sessions for Komga, Audiobookshelf, ComfyUI and Khoj, for CI/CD jobs and
// long-running services. It is configured like authclient.NewFromEnv
// (KOMGA_URL, KOMGA_API_KEY, …), with flags that override.
//
//	go install github.com/selfhost-sdk/authclient/cmd/authclient@latest
//	authclient check --server komga
//	authclient keys rotate --server komga --name ci-job --out /run/secrets/komga_key
//
// Run "authclient help" for the commands and the exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// mainHelp is the top-level --help.
const mainHelp = `authclient: check credentials, rotate API keys and keep sessions of
Komga, Audiobookshelf, ComfyUI and Khoj servers, for CI/CD jobs.

Usage: authclient [flags] COMMAND [flags]

Commands:
  check                      probe the server, check the credential, say who it is
  keys list                  list the API keys (Khoj: API tokens), without secrets
  keys create --name N       create a key; its secret goes to --out FILE or, with --print-secret, stdout
  keys delete ID             delete a key
  keys rotate                replace the key the job uses (or --id ID): create, verify, delete the old
  login --session-file F     sign in with the password and save the session (Komga, Audiobookshelf)
  logout --session-file F    end the saved session and remove the file
  khoj bootstrap --email E   sign in to Khoj with an e-mailed code and mint an API token
  help [COMMAND]             show help

Example:
  export KOMGA_URL=https://nas.example/komga/ KOMGA_API_KEY_FILE=/run/secrets/komga
  authclient check --server komga --json

`

// main runs the command and exits with its code.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	help string
	run  func(ctx context.Context, g *globals, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// commands maps a command's name ("keys rotate") to it.
var commands = map[string]command{
	"check":          {checkHelp, runCheck},
	"keys list":      {keysListHelp, runKeysList},
	"keys create":    {keysCreateHelp, runKeysCreate},
	"keys delete":    {keysDeleteHelp, runKeysDelete},
	"keys rotate":    {keysRotateHelp, runKeysRotate},
	"login":          {loginHelp, runLogin},
	"logout":         {logoutHelp, runLogout},
	"khoj bootstrap": {khojBootstrapHelp, runKhojBootstrap},
}

// groups are the commands that take a subcommand.
var groups = map[string]bool{"keys": true, "khoj": true}

// run parses the command line, runs the command and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{maxRetries: -1}
	top := flag.NewFlagSet("authclient", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	g.register(top)
	help := top.Bool("help", false, "")
	top.BoolVar(help, "h", false, "")
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return printHelp(stdout, "")
		}
		return fail(g, stdout, stderr, &usageError{err.Error()})
	}
	rest := top.Args()
	if *help || len(rest) == 0 {
		if len(rest) == 0 && !*help {
			io.WriteString(stderr, mainHelp+exitCodesHelp)
			return exitUsage
		}
		return printHelp(stdout, "")
	}
	if rest[0] == "help" {
		return printHelp(stdout, strings.Join(rest[1:], " "))
	}
	name := rest[0]
	rest = rest[1:]
	if groups[name] {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			if len(rest) > 0 && (rest[0] == "--help" || rest[0] == "-h" || rest[0] == "-help") {
				return printHelp(stdout, name)
			}
			return fail(g, stdout, stderr, &usageError{fmt.Sprintf("%q needs a subcommand: see 'authclient help %s'", name, name)})
		}
		name += " " + rest[0]
		rest = rest[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		return fail(g, stdout, stderr, &usageError{fmt.Sprintf("unknown command %q: see 'authclient help'", truncate(name, 40))})
	}
	if hasHelpFlag(rest) {
		return printHelp(stdout, name)
	}
	return fail(g, stdout, stderr, cmd.run(ctx, g, rest, stdin, stdout, stderr))
}

// hasHelpFlag reports a --help among a command's flags.
func hasHelpFlag(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// printHelp prints the help of one command, or the overview.
func printHelp(w io.Writer, name string) int {
	if name == "" {
		io.WriteString(w, mainHelp+globalsHelp+"\n"+exitCodesHelp)
		return exitOK
	}
	if cmd, ok := commands[name]; ok {
		io.WriteString(w, cmd.help+"\n"+globalsHelp+"\n"+exitCodesHelp)
		return exitOK
	}
	if groups[name] {
		fmt.Fprintf(w, "Commands of %q:\n", name)
		for _, n := range sortedCommands() {
			if strings.HasPrefix(n, name+" ") {
				fmt.Fprintf(w, "  authclient %s --help\n", n)
			}
		}
		return exitOK
	}
	fmt.Fprintf(w, "no command %q: see 'authclient help'\n", truncate(name, 40))
	return exitUsage
}

// parseFlags parses a command's flags, the global ones included, and
// returns the positional arguments.
func parseFlags(fs *flag.FlagSet, g *globals, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	g.register(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, &usageError{fmt.Sprintf("%s: %v (see 'authclient %s --help')", fs.Name(), err, fs.Name())}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0]) // flags may follow a positional argument
		args = args[1:]
	}
}

// fail reports err (if any) on stderr, or as JSON on stdout with --json,
// with what to check, and returns its exit code.
func fail(g *globals, stdout, stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	prefix := "<SERVER>"
	if s, serr := g.serverName(); serr == nil {
		prefix = envPrefix(s)
	}
	check := whatToCheck(code, prefix)
	if g.json {
		(&output{w: stdout, json: true}).result(struct {
			Error    string `json:"error"`
			Category string `json:"category"`
			ExitCode int    `json:"exit_code"`
			Check    string `json:"check,omitempty"`
		}{err.Error(), category(code), code, check}, "")
		return code
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "authclient: ") {
		msg = "authclient: " + msg
	}
	fmt.Fprintln(stderr, msg)
	if check != "" {
		fmt.Fprintf(stderr, "  check: %s\n", check)
	}
	return code
}
