package hub

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
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

// TestDownloadWrongBodyUnhashed: when the ETag is not a content hash (so
// only the size can be checked) and the content comes without a
// Content-Length, a body shorter or longer than the announced
// X-Linked-Size is an error and is not cached.
func TestDownloadWrongBodyUnhashed(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{{"short", 50}, {"long", 150}} {
		t.Run(tc.name, func(t *testing.T) {
			cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(strings.Repeat("x", tc.size)))
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
			if want := fmt.Sprintf("got %d bytes, want 100", tc.size); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Download = %s, %v; want a %s-body error", p, err, tc.name)
			}
			entries, _ := os.ReadDir(filepath.Join(c.RepoFolder(testRepo), "blobs"))
			if len(entries) != 0 {
				t.Errorf("blobs holds %d entries after a %s download", len(entries), tc.name)
			}
		})
	}
}

// TestIsCommitHash: only 40 lowercase hex digits are a commit; anything
// else is a branch or tag name, resolved through the hub or refs/.
func TestIsCommitHash(t *testing.T) {
	tests := map[string]bool{
		testCommit:                    true,
		strings.Repeat("f", 40):       true,
		strings.Repeat("g", 40):       false,
		strings.ToUpper(testCommit):   false,
		testCommit[:39]:               false,
		testCommit + "0":              false,
		"main":                        false,
		"":                            false,
		strings.Repeat("0", 39) + "z": false,
	}
	for rev, want := range tests {
		if got := isCommitHash(rev); got != want {
			t.Errorf("isCommitHash(%q) = %v, want %v", rev, got, want)
		}
	}
}

// TestCheckETag: an ETag names a blob file, so it must be a plain file
// name, and not one that a download's temporary file could have.
func TestCheckETag(t *testing.T) {
	for _, e := range []string{"", ".", "..", "a/b", `a\b`, "a\x00b", "abc.incomplete"} {
		if checkETag(e) == nil {
			t.Errorf("checkETag(%q) accepted it", e)
		}
	}
	for _, e := range []string{testCommit, "not-a-hash", "abc.incomplete.x"} {
		if err := checkETag(e); err != nil {
			t.Errorf("checkETag(%q): %v", e, err)
		}
	}
}

// TestHasherForEmptyGitBlob: an empty file stored in git is checked
// against its blob id too; e69de29… is git's id of the empty blob.
func TestHasherForEmptyGitBlob(t *testing.T) {
	const empty = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
	h := hasherFor(empty, 0)
	if h == nil {
		t.Fatal("hasherFor(an empty git blob) = nil: the download would be checked by size only")
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != empty {
		t.Errorf("hash of no bytes %s, want %s", got, empty)
	}
	if hasherFor(empty, -1) != nil {
		t.Error("a git blob of unknown size got a hasher")
	}
}

// TestIsTrue: the values of HF_HUB_OFFLINE that huggingface_hub reads as
// true.
func TestIsTrue(t *testing.T) {
	tests := map[string]bool{"1": true, "true": true, "TRUE": true, "yes": true, "on": true, "ON": true, " on ": true,
		"0": false, "false": false, "off": false, "no": false, "": false, "onn": false}
	for v, want := range tests {
		if got := isTrue(v); got != want {
			t.Errorf("isTrue(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestRedirectLimit: a request follows at most maxRedirects redirects,
// then fails, rather than going round a redirect loop.
func TestRedirectLimit(t *testing.T) {
	var mu sync.Mutex
	requests := 0
	var hub *httptest.Server
	hub = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		n := requests
		mu.Unlock()
		http.Redirect(w, r, hub.URL+"/loop/"+strconv.Itoa(n), http.StatusFound)
	}))
	defer hub.Close()
	c := &Client{Endpoint: hub.URL, CacheDir: t.TempDir(), HTTP: hub.Client()}
	_, err := c.ListFiles(context.Background(), "a/b", "")
	if err == nil || !strings.Contains(err.Error(), "more than 10 redirects") {
		t.Errorf("err = %v, want one about too many redirects", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 11 { // the request and its 10 redirects
		t.Errorf("%d requests, want 11", requests)
	}
}

// TestDownloadRedirectSizeIsNotTheFiles: the Content-Length of the hub's
// redirect is that of the redirect's own body, not of the file; without
// X-Linked-Size the file's size is unknown until its content arrives.
func TestDownloadRedirectSizeIsNotTheFiles(t *testing.T) {
	data := []byte(strings.Repeat("content ", 40))
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(data)
	}))
	defer cdn.Close()
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Repo-Commit", testCommit)
		w.Header().Set("X-Linked-Etag", `"`+sha256Hex(data)+`"`)
		w.Header().Set("Location", cdn.URL+"/blob")
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(http.StatusFound)
		if r.Method != http.MethodHead {
			w.Write([]byte("Found"))
		}
	}))
	defer hub.Close()
	c := &Client{Endpoint: hub.URL, CacheDir: t.TempDir(), HTTP: hub.Client()}
	p, err := c.Download(context.Background(), testRepo, "", "a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != string(data) {
		t.Errorf("downloaded %d bytes (%v), want %d", len(got), err, len(data))
	}
}

// TestDownloadAtCommitWritesNoRef: a revision that is a commit hash names
// itself; the cache gets no refs/ entry for it, as with huggingface_hub.
func TestDownloadAtCommitWritesNoRef(t *testing.T) {
	f := newFakeHub(t, testFiles())
	c := f.client(t)
	if _, err := c.Download(context.Background(), testRepo, testCommit, "README.md"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.RepoFolder(testRepo), "refs", testCommit)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refs/%s: %v, want none", testCommit, err)
	}
}

// TestCancelledIsNotUnreachable: a request the caller cancelled fails with
// the cancellation, without the advice for a hub that cannot be reached.
func TestCancelledIsNotUnreachable(t *testing.T) {
	f := newFakeHub(t, testFiles())
	c := f.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.ListFiles(ctx, testRepo, "")
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("err = %v, want the cancellation alone", err)
	}
}
