package authclient

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"time"
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
// instead (the Docker-secrets convention); one trailing newline is stripped.
// Setting both a variable and its _FILE form is an error. An empty variable
// counts as unset. Without a key or username the client is unauthenticated.
// ComfyUI treats a username and password as HTTP Basic for a reverse proxy;
// Khoj has no password sign-in.
//
// Errors are [*ConfigError]s that name the variable and never quote a
// secret.
func NewFromEnv(server Server, opts ...Option) (*Client, error) {
	return newFromEnv(server, os.LookupEnv, os.ReadFile, opts...)
}

// newFromEnv is NewFromEnv with the environment and file system injected.
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
			if err != nil {
				return "", "", &ConfigError{Setting: name + "_FILE", Problem: "cannot read the file it names: " + fileProblem(err), Err: err}
			}
			s := string(data)
			s = strings.TrimSuffix(s, "\n")
			s = strings.TrimSuffix(s, "\r")
			if s == "" {
				return "", "", configErr(name+"_FILE", "the file it names is empty")
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

// fileProblem describes a file error without the OS's full text.
func fileProblem(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return "read error"
}
