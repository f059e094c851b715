//go:build unix

package metrics

import (
	"io"
	"os"
	"path/filepath"
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
