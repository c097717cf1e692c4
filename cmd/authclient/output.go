package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// output writes a command's result: text for people, or one JSON value
// with --json. Nothing secret goes through it unless --print-secret asked.
type output struct {
	w    io.Writer
	json bool
}

// result prints v as JSON with --json, or the text lines otherwise.
func (o *output) result(v any, text string) error {
	if o.json {
		enc := json.NewEncoder(o.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(o.w, text)
	return err
}

// testFailBeforeRename is set only by the CLI's tests, to prove that a write
// interrupted between writing the temporary file and renaming it leaves no
// partial secret and the old file intact.
const testFailBeforeRename = "AUTHCLIENT_CLI_TEST_FAIL_BEFORE_RENAME"

// pendingFile is a secret file being written atomically: a temporary file
// (mode 0600) in the target's directory, renamed over the target once
// complete and synced. It is created before the secret exists, so that a
// path that cannot be written fails before a key is created.
type pendingFile struct {
	path string
	tmp  *os.File
}

// prepareFile opens the temporary file for path.
func prepareFile(path string) (*pendingFile, error) {
	if path == "" {
		return nil, &usageError{"an output file name may not be empty"}
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, &outputError{fmt.Errorf("%s exists and is not a regular file", path)}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, &outputError{fmt.Errorf("cannot write in the directory of %s: %w", path, cause(err))}
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, &outputError{fmt.Errorf("cannot make a private file next to %s: %w", path, cause(err))}
	}
	// Reserve the space now: the secret may exist only once it is written
	// (a rotation deletes the old key first), so a full disk must show
	// before anything changes on the server.
	_, err = tmp.Write(make([]byte, reserveBytes))
	if err == nil {
		err = tmp.Sync()
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, &outputError{fmt.Errorf("cannot write next to %s: %w", path, cause(err))}
	}
	return &pendingFile{path: path, tmp: tmp}, nil
}

// reserveBytes is the space reserved for a secret (API keys and JWTs are
// far smaller; a session file is written without the reservation mattering).
const reserveBytes = 4096

// commit writes data, syncs it and renames the file over the target. On any
// failure the temporary file is removed and the target left as it was.
func (p *pendingFile) commit(data []byte) error {
	fail := func(what string, err error) error {
		p.abort()
		return &outputError{fmt.Errorf("writing %s: %s: %v (the file was left as it was)", p.path, what, err)}
	}
	if err := p.tmp.Truncate(0); err != nil {
		return fail("truncate", cause(err))
	}
	if _, err := p.tmp.WriteAt(data, 0); err != nil {
		return fail("write", cause(err))
	}
	if err := p.tmp.Sync(); err != nil {
		return fail("sync", cause(err))
	}
	if err := p.tmp.Close(); err != nil {
		return fail("close", cause(err))
	}
	if os.Getenv(testFailBeforeRename) != "" {
		return fail("rename", errors.New("interrupted (test hook)"))
	}
	if err := os.Rename(p.tmp.Name(), p.path); err != nil {
		return fail("rename", cause(err))
	}
	p.tmp = nil
	if d, err := os.Open(filepath.Dir(p.path)); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}

// abort removes the temporary file; it is safe after commit.
func (p *pendingFile) abort() {
	if p == nil || p.tmp == nil {
		return
	}
	p.tmp.Close()
	os.Remove(p.tmp.Name())
	p.tmp = nil
}

// writeFileAtomic writes data to path as prepareFile and commit do.
func writeFileAtomic(path string, data []byte) error {
	p, err := prepareFile(path)
	if err != nil {
		return err
	}
	return p.commit(data)
}

// maxSessionFile bounds a session file read back.
const maxSessionFile = 64 << 10

// readBounded reads a regular file of at most limit bytes; other files
// (a directory, a device, a pipe) are refused without reading.
func readBounded(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// cause drops the *os.PathError around err: the path is said already.
func cause(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
