package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteJSON writes v as indented JSON to path, atomically: into a temporary
// file in the same directory, synced, then renamed over path.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	data = append(data, '\n')
	return WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic creates path (mode 0644) with the bytes that write produces, through a
// temporary file in the same directory that is synced and renamed; on error
// the temporary file is removed and path is untouched. Where path already
// is something other than a regular file (a named pipe, a terminal, a
// device such as /dev/stdout), the bytes are written to it directly:
// renaming over it would replace the device node or pipe with a file.
// Where path is a symbolic link, the link stays and the file it names is
// replaced (atomically, in that file's directory); a link into /dev or
// /proc (/dev/stdout redirected to a file) and a link to nothing yet are
// written through.
func WriteAtomic(path string, write func(io.Writer) error) (err error) {
	target := path
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
		resolved, rerr := filepath.EvalSymlinks(path)
		if rerr != nil || linkThroughKernel(path) || throughKernel(resolved) {
			return writeThrough(path, write)
		}
		target = resolved
	}
	if fi, serr := os.Stat(target); serr == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return fmt.Errorf("write %s: is a directory", path)
		}
		return writeThrough(path, write)
	}
	if err := writeReplacing(target, write); err != nil {
		if target != path {
			return fmt.Errorf("write %s (link to %s): %w", path, target, errors.Unwrap(err))
		}
		return err
	}
	return nil
}

// throughKernel reports whether path lies under /dev or /proc, where a
// link names an open file of the process rather than a file to replace.
func throughKernel(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	for _, root := range []string{"/dev", "/proc"} {
		if abs == root || strings.HasPrefix(abs, root+"/") {
			return true
		}
	}
	return false
}

// linkThroughKernel reports whether path, or a link on the way from it
// to the file it names, lies under /dev or /proc: a link to /dev/stdout
// resolves, through /proc/self/fd/1, to the file standard output was
// redirected to, which is not to be replaced.
func linkThroughKernel(path string) bool {
	for range 255 { // more links than the system follows
		if throughKernel(path) {
			return true
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return false // not a link: the end of the chain
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return false
}

// writeReplacing writes path through a temporary file beside it that is
// synced and renamed over it.
func writeReplacing(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeThrough writes to an existing file that is not a regular file, or
// through a link that cannot be resolved to one (creating the file a
// dangling link names).
func writeThrough(path string, write func(io.Writer) error) error {
	switch filepath.Clean(path) {
	case "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1":
		return writeStandard(path, os.Stdout, write)
	case "/dev/stderr", "/dev/fd/2", "/proc/self/fd/2":
		return writeStandard(path, os.Stderr, write)
	}
	fi, err := os.Stat(path)
	if err == nil {
		// A link to standard output or error under another name.
		for _, std := range []*os.File{os.Stdout, os.Stderr} {
			if sfi, serr := std.Stat(); serr == nil && os.SameFile(fi, sfi) {
				return writeStandard(path, std, write)
			}
		}
	}
	flag := os.O_WRONLY
	if err == nil && fi.Mode().IsRegular() && !linkThroughKernel(path) {
		flag |= os.O_TRUNC
	} else if errors.Is(err, fs.ErrNotExist) {
		flag |= os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		if pe := (*os.PathError)(nil); errors.As(err, &pe) && pe.Path == path {
			return err // "write <path>: …" already
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeStandard writes to the process's own standard output or error,
// which path names: through the open descriptor, so that a redirection's
// offset and append mode hold (opening /dev/stdout anew writes from the
// start of a redirected file, over what is there).
func writeStandard(path string, f *os.File, write func(io.Writer) error) error {
	if err := write(f); err != nil {
		if pe := (*os.PathError)(nil); errors.As(err, &pe) && pe.Path == path {
			return err
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
