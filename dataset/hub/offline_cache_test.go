package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// handCache lays out a huggingface_hub cache for testRepo by hand, as
// huggingface_hub leaves it (no recorded listing of this package): refs/main
// holding ref, and for each file a blob and a relative symbolic link to it
// in snapshots/{testCommit}/. It returns an offline client of that cache.
func handCache(t *testing.T, ref string, files map[string]string) *Client {
	t.Helper()
	c := &Client{Endpoint: "http://offline.invalid", CacheDir: t.TempDir(), Offline: true}
	folder := c.RepoFolder(testRepo)
	for name, data := range files {
		blob := filepath.Join(folder, "blobs", gitBlobID([]byte(data)))
		if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(blob, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := link(blob, c.snapshotPath(testRepo, testCommit, name)); err != nil {
			t.Fatal(err)
		}
	}
	refPath := filepath.Join(folder, "refs", "main")
	if err := os.MkdirAll(filepath.Dir(refPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(refPath, []byte(ref), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOfflineSnapshotSkipsDanglingLinks: without a recorded listing, the
// offline listing is the snapshot folder's files, and an entry that is a
// link to a blob since deleted (a cache cleaned by hand, or by
// huggingface-cli delete-cache) is no cached file: listing it would make
// the caller's Download of it fail where it should not have been asked
// for. The link itself exists (os.Lstat sees it); only following it
// (os.Stat) shows that the file is gone.
func TestOfflineSnapshotSkipsDanglingLinks(t *testing.T) {
	const kept, gone = "data/kept.parquet", "data/gone.parquet"
	c := handCache(t, testCommit, map[string]string{kept: "kept", gone: "gone"})
	blob := filepath.Join(c.RepoFolder(testRepo), "blobs", gitBlobID([]byte("gone")))
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(c.snapshotPath(testRepo, testCommit, gone)); err != nil {
		t.Fatalf("the dangling link should still be there: %v", err)
	}
	commit, files, err := c.Snapshot(context.Background(), testRepo, "main")
	if want := []string{kept}; err != nil || commit != testCommit || !reflect.DeepEqual(files, want) {
		t.Errorf("offline Snapshot with a dangling link to %s = %s, %q, %v; want %s, %q (the dangling entry left out)",
			gone, commit, files, err, testCommit, want)
	}
	if _, err := c.Download(context.Background(), testRepo, "main", gone); !errors.Is(err, ErrNotCached) {
		t.Errorf("offline Download of the dangling %s: err = %v, want ErrNotCached", gone, err)
	}
}

// TestOfflineRefWithNewline: a ref file that ends in a newline (written by
// hand, or by a tool that ends its lines, as `echo sha > refs/main` does)
// still names its commit: commitOf trims the space around it, so the
// offline Download and Snapshot of the revision resolve it rather than
// calling the cache empty.
func TestOfflineRefWithNewline(t *testing.T) {
	const name = "data/session1.parquet"
	for _, ref := range []string{testCommit + "\n", testCommit + "\r\n", " " + testCommit + " \n"} {
		c := handCache(t, ref, map[string]string{name: "rows"})
		want := c.snapshotPath(testRepo, testCommit, name)
		if got, err := c.Download(context.Background(), testRepo, "main", name); err != nil || got != want {
			t.Errorf("offline Download with refs/main %q = %s, %v; want %s", ref, got, err, want)
		}
		commit, files, err := c.Snapshot(context.Background(), testRepo, "main")
		if err != nil || commit != testCommit || !reflect.DeepEqual(files, []string{name}) {
			t.Errorf("offline Snapshot with refs/main %q = %s, %q, %v; want %s, %q", ref, commit, files, err, testCommit, []string{name})
		}
	}
}
