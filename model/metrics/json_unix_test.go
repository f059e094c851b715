//go:build unix

package metrics

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestWriteAtomicToPipe: a path that names a pipe or a device (as
// --predictions /dev/stdout does) is written to, not replaced. The
// temporary file and rename had replaced the node with a regular file:
// as root, eval --predictions /dev/full turned /dev/full into a file;
// as another user, --predictions /dev/stdout failed to create a
// temporary file in /dev.
func TestWriteAtomicToPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// A non-blocking reader, so that opening the pipe to write does not
	// wait and nothing hangs if the pipe is replaced.
	fd, err := syscall.Open(fifo, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := os.NewFile(uintptr(fd), fifo)
	defer r.Close()
	if err := WriteJSON(fifo, map[string]int{"a": 1}); err != nil {
		t.Fatalf("WriteJSON to a pipe: %v", err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the pipe was replaced: %v, %v", fi.Mode(), err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"a\": 1\n}\n"; string(got) != want {
		t.Errorf("the pipe got %q, want %q", got, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(fifo))
	if len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want the pipe alone", len(entries))
	}
	if err := WriteJSON(filepath.Dir(fifo), 1); err == nil {
		t.Error("WriteJSON to a folder: no error")
	}
}

// TestWriteAtomicThroughLink: a path that is a symbolic link keeps the
// link; the file it names is replaced in its own folder, and a link to
// nothing yet creates that file. Renaming over the link had turned it
// into a regular file and left the file it named stale.
func TestWriteAtomicThroughLink(t *testing.T) {
	dir := t.TempDir()
	elsewhere := filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(elsewhere, "metrics.json")
	if err := os.WriteFile(real, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, link, target string
	}{
		{"to a file", filepath.Join(dir, "link.json"), real},
		{"to nothing yet", filepath.Join(dir, "dangling.json"), filepath.Join(elsewhere, "new.json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.Symlink(tt.target, tt.link); err != nil {
				t.Skipf("symlink: %v", err)
			}
			if err := WriteJSON(tt.link, map[string]int{"a": 1}); err != nil {
				t.Fatalf("WriteJSON through a link: %v", err)
			}
			if fi, err := os.Lstat(tt.link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("the link was replaced: %v, %v", fi.Mode(), err)
			}
			got, err := os.ReadFile(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if want := "{\n  \"a\": 1\n}\n"; string(got) != want {
				t.Errorf("the file the link names holds %q, want %q", got, want)
			}
		})
	}
	for _, d := range []string{dir, elsewhere} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if filepath.Ext(e.Name()) != ".json" && e.Name() != "elsewhere" {
				t.Errorf("%s holds a leftover %s", d, e.Name())
			}
		}
	}
}

// TestWriteAtomicToStandardOutput: /dev/stdout is written through the
// process's open descriptor, so that output appended to a redirected file
// (>>) lands after what the file held; opening /dev/stdout anew had
// written from the start of the file, over it.
func TestWriteAtomicToStandardOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(out, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = f
	err = WriteJSON("/dev/stdout", map[string]int{"a": 1})
	os.Stdout = saved
	f.Close()
	if err != nil {
		t.Fatalf("WriteJSON to /dev/stdout: %v", err)
	}
	got, _ := os.ReadFile(out)
	if want := "earlier\n{\n  \"a\": 1\n}\n"; string(got) != want {
		t.Errorf("the redirected file holds %q, want %q", got, want)
	}
}

// TestWriteAtomicThroughLinkToStandardOutput: a link to /dev/stdout (as
// container images link their log files to it) is a link into /dev,
// written through to the process's standard output; resolved to the file
// standard output was redirected to, that file had been replaced, what
// >> had appended to it lost, and the process's later output went to the
// replaced file. A child process writes through the link with its
// standard output appended to a file.
func TestWriteAtomicThroughLinkToStandardOutput(t *testing.T) {
	if link := os.Getenv("METRICS_TEST_LINK"); link != "" {
		if err := WriteJSON(link, map[string]int{"a": 1}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("after")
		os.Exit(0)
	}
	if runtime.GOOS != "linux" {
		t.Skip("/dev/stdout is a link to the open file on Linux")
	}
	dir := t.TempDir()
	link := filepath.Join(dir, "log.json")
	if err := os.Symlink("/dev/stdout", link); err != nil {
		t.Skipf("symlink: %v", err)
	}
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(out, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteAtomicThroughLinkToStandardOutput$")
	cmd.Env = append(os.Environ(), "METRICS_TEST_LINK="+link)
	cmd.Stdout = f
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v: %s", err, errb.String())
	}
	got, _ := os.ReadFile(out)
	if want := "earlier\n{\n  \"a\": 1\n}\nafter\n"; string(got) != want {
		t.Errorf("the redirected file holds %q, want %q", got, want)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", fi.Mode(), err)
	}
}
