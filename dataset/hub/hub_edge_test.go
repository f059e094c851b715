package hub

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestTokenNotSentAfterCrossHostRedirect: a hub answer that redirects to
// another host (a renamed repository served elsewhere) is followed without
// the token: the token goes to the endpoint's host only, whichever URL the
// request started at.
func TestTokenNotSentAfterCrossHostRedirect(t *testing.T) {
	var mu sync.Mutex
	var otherAuth []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		otherAuth = append(otherAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"sha": testCommit, "siblings": []map[string]string{{"rfilename": "a.parquet"}}})
	}))
	defer other.Close()
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, other.URL+"/api/datasets/"+testRepo+"/revision/main", http.StatusTemporaryRedirect)
	}))
	defer hub.Close()
	c := &Client{Endpoint: hub.URL, Token: "secret", CacheDir: t.TempDir(), HTTP: hub.Client()}
	files, err := c.ListFiles(context.Background(), "Old/Name", "")
	if err != nil || len(files) != 1 || files[0] != "a.parquet" {
		t.Fatalf("ListFiles = %q, %v; want [a.parquet]", files, err)
	}
	if len(otherAuth) != 1 || otherAuth[0] != "" {
		t.Errorf("the other host received Authorization %q; the token must go to the hub's host only", otherAuth)
	}
}

// TestListFilesEscapesRevision: a revision with slashes is one path
// segment of the revision API, as in the resolve URL.
func TestListFilesEscapesRevision(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"sha": testCommit, "siblings": []map[string]string{{"rfilename": "default/train/0000.parquet"}}})
	}))
	defer hub.Close()
	c := &Client{Endpoint: hub.URL, CacheDir: t.TempDir(), HTTP: hub.Client()}
	if _, err := c.ListFiles(context.Background(), "a/b", "refs/convert/parquet"); err != nil {
		t.Fatal(err)
	}
	want := "/api/datasets/a/b/revision/refs%2Fconvert%2Fparquet"
	if len(paths) != 1 || paths[0] != want {
		t.Errorf("requests %q, want one to %s", paths, want)
	}
	// huggingface_hub keeps the ref under its own path: refs/refs/convert/parquet.
	ref, err := os.ReadFile(filepath.Join(c.RepoFolder("a/b"), "refs", "refs", "convert", "parquet"))
	if err != nil || string(ref) != testCommit {
		t.Errorf("ref = %q, %v; want %s", ref, err, testCommit)
	}
}

// TestDownloadServerErrorFromCDN: a 5xx of the server the content is
// fetched from is a server error, not content; nothing is cached.
func TestDownloadServerErrorFromCDN(t *testing.T) {
	f := newFakeHub(t, map[string]fakeFile{"a.bin": {data: []byte("good content"), mode: "cdn"}})
	f.cdn.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusServiceUnavailable)
	})
	c := f.client(t)
	p, err := c.Download(context.Background(), testRepo, "", "a.bin")
	if err == nil {
		t.Fatalf("Download = %s, want an error", p)
	}
	var se *StatusError
	if !errors.Is(err, ErrServer) || !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("err = %v, want a 503 *StatusError wrapping ErrServer", err)
	}
	entries, _ := os.ReadDir(filepath.Join(c.RepoFolder(testRepo), "blobs"))
	if len(entries) != 0 {
		t.Errorf("blobs holds %d entries after a failed download", len(entries))
	}
}

// TestDownloadShortBodyUnhashed: when the ETag is not a content hash (so
// only the size can be checked) and the content comes without a
// Content-Length, a body shorter than the announced X-Linked-Size is an
// error and is not cached.
func TestDownloadShortBodyUnhashed(t *testing.T) {
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 50)))
		w.(http.Flusher).Flush() // chunked: no Content-Length
	}))
	defer cdn.Close()
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Repo-Commit", testCommit)
		w.Header().Set("X-Linked-Etag", `"not-a-hash"`)
		w.Header().Set("X-Linked-Size", "100")
		w.Header().Set("Location", cdn.URL+"/blob")
		w.WriteHeader(http.StatusFound)
	}))
	defer hub.Close()
	c := &Client{Endpoint: hub.URL, CacheDir: t.TempDir(), HTTP: hub.Client()}
	p, err := c.Download(context.Background(), testRepo, "", "a.bin")
	if err == nil || !strings.Contains(err.Error(), "got 50 bytes, want 100") {
		t.Fatalf("Download = %s, %v; want a short-body error", p, err)
	}
	entries, _ := os.ReadDir(filepath.Join(c.RepoFolder(testRepo), "blobs"))
	if len(entries) != 0 {
		t.Errorf("blobs holds %d entries after a short download", len(entries))
	}
}
