package authclient

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// NewFromEnv returns a client configured from environment variables, then
// adjusted by opts (explicit options override the environment). With
// PREFIX the server's prefix (KOMGA, AUDIOBOOKSHELF, COMFYUI, KHOJ) it reads:
//
//	PREFIX_URL            base URL (required), e.g. https://nas.example/komga/
//	PREFIX_API_KEY        API key (Khoj: API token); wins over username/password
//	PREFIX_USERNAME       username (Komga: e-mail address) for password sign-in
//	PREFIX_PASSWORD       password for PREFIX_USERNAME
//	PREFIX_TIMEOUT        per-attempt timeout: a Go duration ("45s") or whole seconds
//	PREFIX_MAX_RETRIES    retries for idempotent calls (0 disables)
//
// PREFIX_API_KEY_FILE and PREFIX_PASSWORD_FILE name files holding the secret
// instead (the Docker-secrets and Kubernetes convention; a symbolic link to
// the file is fine). The file must be a regular file of at most
// [MaxSecretFileSize] bytes: a directory, a device such as /dev/zero, a
// named pipe or a socket is refused at once, without reading or waiting.
// What is read is trimmed the way the servers trim: a key file loses all
// surrounding white space (spaces, tabs, any number of line breaks), as
// ComfyUI trims its own --api-key-file, so one file serves both; a password
// file loses only its trailing line breaks, as the shell's $(cat file)
// does, because a password may begin or end with a space. A file that is
// empty after trimming, or that has a line break or other control character
// inside the value, is an error. Setting both a variable and its _FILE form
// is an error. An empty variable counts as unset. Without a key or username
// the client is unauthenticated.
// ComfyUI treats a username and password as HTTP Basic for a reverse proxy;
// Khoj has no password sign-in.
//
// Errors are [*ConfigError]s that name the variable and never quote a
// secret, the content of a secret file, or the file name (which may be a
// secret pasted into the wrong variable).
func NewFromEnv(server Server, opts ...Option) (*Client, error) {
	return newFromEnv(server, os.LookupEnv, readSecretFile, opts...)
}

// newFromEnv is NewFromEnv with the environment and file system injected;
// readFile is readSecretFile outside tests.
func newFromEnv(server Server, lookup func(string) (string, bool), readFile func(string) ([]byte, error), opts ...Option) (*Client, error) {
	spec, err := lookupSpec(server)
	if err != nil {
		return nil, err
	}
	p := spec.envPrefix
	get := func(name string) string {
		v, ok := lookup(name)
		if !ok {
			return ""
		}
		return v
	}
	// secret reads name or name_FILE, and says which one it came from.
	secret := func(name string) (value, from string, err error) {
		v, f := get(name), get(name+"_FILE")
		switch {
		case v != "" && f != "":
			return "", "", configErr(name, "both %s and %s_FILE are set; set only one", name, name)
		case f != "":
			data, err := readFile(f)
			if err == nil && len(data) > MaxSecretFileSize {
				err = errSecretTooLarge
			}
			if err != nil {
				return "", "", &ConfigError{Setting: name + "_FILE", Problem: "cannot read the file it names: " + fileProblem(err), Err: fileCause(err)}
			}
			s, err := trimSecret(string(data), name != p+"_PASSWORD")
			if err != nil {
				return "", "", &ConfigError{Setting: name + "_FILE", Problem: "the file it names " + err.Error()}
			}
			return s, name + "_FILE", nil
		}
		return v, name, nil
	}

	baseURL := get(p + "_URL")
	if baseURL == "" {
		return nil, configErr(p+"_URL", "is not set (want the server's base URL, e.g. http://localhost:%s/)", spec.port)
	}
	var env []Option
	key, keyVar, err := secret(p + "_API_KEY")
	if err != nil {
		return nil, err
	}
	password, _, err := secret(p + "_PASSWORD")
	if err != nil {
		return nil, err
	}
	username := get(p + "_USERNAME")
	switch {
	case key != "":
		env = append(env, renameErr(WithAPIKey(key), keyVar))
	case username != "":
		if spec.passwords == passwordNone {
			return nil, configErr(p+"_USERNAME", "%s has no password sign-in; set %s_API_KEY instead", spec.name, p)
		}
		env = append(env, renameErr(WithLogin(username, password), p+"_USERNAME"))
	case password != "":
		return nil, configErr(p+"_PASSWORD", "is set but %s_USERNAME is not", p)
	}
	if v := get(p + "_TIMEOUT"); v != "" {
		d, err := parseEnvDuration(v)
		if err != nil {
			return nil, configErr(p+"_TIMEOUT", "%q is not a duration (want e.g. 30s, 2m or a number of seconds)", cleanText(truncate(v, 40)))
		}
		env = append(env, renameErr(WithTimeout(d), p+"_TIMEOUT"))
	}
	if v := get(p + "_MAX_RETRIES"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, configErr(p+"_MAX_RETRIES", "%q is not a whole number", cleanText(truncate(v, 40)))
		}
		env = append(env, renameErr(WithMaxRetries(n), p+"_MAX_RETRIES"))
	}
	c, err := New(server, baseURL, append(env, opts...)...)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) && ce.Setting == "baseURL" {
			ce.Setting = p + "_URL"
		}
		if errors.As(err, &ce) && (ce.Setting == "APIKey" || ce.Setting == "BasicAuth") && key != "" {
			ce.Setting = keyVar
		}
		if errors.As(err, &ce) && ce.Setting == "WithLogin" && key == "" && username != "" {
			ce.Setting = p + "_USERNAME"
		}
		return nil, err
	}
	return c, nil
}

// renameErr makes an option's ConfigError name the environment variable it
// came from.
func renameErr(o Option, variable string) Option {
	return func(opts *options) error {
		err := o(opts)
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.Setting = variable
		}
		return err
	}
}

func parseEnvDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseUint(v, 10, 31); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, errors.New("negative")
	}
	return d, nil
}

// MaxSecretFileSize is the largest secret file [NewFromEnv] reads
// (PREFIX_API_KEY_FILE, PREFIX_PASSWORD_FILE): 64 KiB. A larger file is
// refused rather than read.
const MaxSecretFileSize = 64 << 10

// Reasons readSecretFile refuses a file.
var (
	errSecretNotRegular = errors.New("not a regular file")
	errSecretDirectory  = errors.New("a directory")
	errSecretTooLarge   = errors.New("too large")
)

// readSecretFile reads a secret file with bounds: it opens without
// blocking (a named pipe with no writer would otherwise block the open
// forever), requires a regular file once symbolic links are followed
// (fstat on the open file, so the check and the read see the same file),
// refuses one larger than MaxSecretFileSize, and reads at most one byte
// more than that in case the file grows after the check.
func readSecretFile(name string) ([]byte, error) {
	f, err := os.OpenFile(name, secretOpenFlags, 0)
	if err != nil {
		// A socket cannot be opened at all (ENXIO); say what it is.
		if fi, serr := os.Stat(name); serr == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
			return nil, errSecretNotRegular
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case fi.IsDir():
		return nil, errSecretDirectory
	case !fi.Mode().IsRegular():
		return nil, errSecretNotRegular
	case fi.Size() > MaxSecretFileSize:
		return nil, errSecretTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSecretFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSecretFileSize {
		return nil, errSecretTooLarge
	}
	return data, nil
}

// trimSecret trims a secret read from a file: all surrounding white space
// for a key (what Python's str.strip() removes, as ComfyUI does to its key
// file), only trailing line breaks for a password. It refuses a value that
// is empty after trimming or holds a control character (a line break in
// the middle, a NUL), with a reason that never quotes the value.
func trimSecret(s string, key bool) (string, error) {
	if key {
		s = strings.TrimFunc(s, isPythonSpace)
	} else {
		s = strings.TrimRight(s, "\r\n")
	}
	if s == "" {
		return "", errString("is empty (or holds only white space)")
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			if b == '\r' || b == '\n' {
				return "", errString("holds more than one line: it must hold only the secret (surrounding white space is trimmed)")
			}
			return "", errString("holds a control character inside the secret")
		}
	}
	return s, nil
}

// isPythonSpace reports what Python's str.isspace() does: Unicode white
// space plus the ASCII separators U+001C to U+001F.
func isPythonSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// fileProblem describes a file error without the OS's full text (which
// quotes the file name).
func fileProblem(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file (the variable must name a file holding the secret, not hold the secret)"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	case errors.Is(err, errSecretDirectory):
		return "it is a directory, not a file"
	case errors.Is(err, errSecretNotRegular):
		return "it is not a regular file (a device, named pipe or socket); it must be a file holding only the secret"
	case errors.Is(err, errSecretTooLarge):
		return "it is larger than " + strconv.Itoa(MaxSecretFileSize>>10) + " KiB (MaxSecretFileSize); it must hold only the secret"
	}
	return "read error"
}

// fileCause is the cause kept in a ConfigError for a file error: the
// *fs.PathError's cause without the PathError, whose text quotes the file
// name (errors.Is(err, fs.ErrNotExist) still works).
func fileCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
