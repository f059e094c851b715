package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	testRepo   = "Owner/Data_Set"
	testCommit = "0123456789abcdef0123456789abcdef01234567"
)

// fakeFile is one file of the fake hub's repository.
type fakeFile struct {
	data []byte
	// how the resolve endpoint serves it: "" directly, "local" by a relative
	// redirect to another path of the hub, "cdn" by a redirect to the CDN
	// server (as for LFS files), "cut" directly but with the connection
	// closed after half of the body.
	mode string
}

// fakeHub imitates the hub's revision and resolve endpoints, and a CDN on
// another host.
type fakeHub struct {
	t      *testing.T
	files  map[string]fakeFile
	token  string // required when set
	status int    // when set, every hub request answers this status

	hub, cdn *httptest.Server

	mu       sync.Mutex
	requests []string // "METHOD path" of every hub and CDN request
	cdnAuth  []string // Authorization headers the CDN received
	blobAuth []string // Authorization headers the hub's blob path received
}

func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func newFakeHub(t *testing.T, files map[string]fakeFile) *fakeHub {
	f := &fakeHub{t: t, files: files}
	f.cdn = httptest.NewServer(http.HandlerFunc(f.serveCDN))
	f.hub = httptest.NewServer(http.HandlerFunc(f.serveHub))
	t.Cleanup(f.close)
	return f
}

func (f *fakeHub) close() {
	f.hub.Close()
	f.cdn.Close()
}

func (f *fakeHub) log(r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
}

func (f *fakeHub) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// byBlob finds the file whose sha256 is id.
func (f *fakeHub) byBlob(id string) ([]byte, bool) {
	for _, ff := range f.files {
		if sha256Hex(ff.data) == id {
			return ff.data, true
		}
	}
	return nil, false
}

func (f *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	f.log(r)
	f.mu.Lock()
	f.cdnAuth = append(f.cdnAuth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	data, ok := f.byBlob(strings.TrimPrefix(r.URL.Path, "/blobs/"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

func (f *fakeHub) notFound(w http.ResponseWriter, code string) {
	w.Header().Set("X-Error-Code", code)
	http.Error(w, code, http.StatusNotFound)
}

func (f *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	f.log(r)
	if f.status != 0 {
		http.Error(w, "boom", f.status)
		return
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		w.Header().Set("X-Error-Message", "Invalid username or password.")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	p := r.URL.EscapedPath()
	if id, ok := strings.CutPrefix(p, "/blobs-local/"); ok {
		f.mu.Lock()
		f.blobAuth = append(f.blobAuth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		data, ok := f.byBlob(id)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
		return
	}
	for _, prefix := range []string{"/datasets/", "/api/datasets/"} {
		// A renamed repository: the hub redirects to the new name.
		if rest, ok := strings.CutPrefix(p, prefix+"Old/Name/"); ok {
			w.Header().Set("Location", prefix+testRepo+"/"+rest)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
	}
	if rest, ok := strings.CutPrefix(p, "/api/datasets/"+testRepo+"/revision/"); ok {
		if rest != "main" && rest != testCommit {
			f.notFound(w, "RevisionNotFound")
			return
		}
		type sibling struct {
			RFilename string `json:"rfilename"`
		}
		info := struct {
			ID       string    `json:"id"`
			SHA      string    `json:"sha"`
			Siblings []sibling `json:"siblings"`
		}{ID: testRepo, SHA: testCommit}
		for name := range f.files {
			info.Siblings = append(info.Siblings, sibling{name})
		}
		json.NewEncoder(w).Encode(info)
		return
	}
	rest, ok := strings.CutPrefix(p, "/datasets/"+testRepo+"/resolve/")
	if !ok {
		f.notFound(w, "RepoNotFound")
		return
	}
	rev, name, _ := strings.Cut(rest, "/")
	if rev != "main" && rev != testCommit {
		f.notFound(w, "RevisionNotFound")
		return
	}
	file, ok := f.files[name]
	if !ok {
		f.notFound(w, "EntryNotFound")
		return
	}
	w.Header().Set("X-Repo-Commit", testCommit)
	switch file.mode {
	case "local", "cdn":
		id := sha256Hex(file.data)
		w.Header().Set("X-Linked-Etag", `"`+id+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(file.data)))
		w.Header().Set("ETag", `W/"not-the-content-etag"`)
		loc := "/blobs-local/" + id
		if file.mode == "cdn" {
			loc = f.cdn.URL + "/blobs/" + id
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	case "cut":
		if r.Method == http.MethodHead {
			w.Header().Set("ETag", `"`+gitBlobID(file.data)+`"`)
			w.Header().Set("Content-Length", strconv.Itoa(len(file.data)))
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Errorf("hijack: %v", err)
			return
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Repo-Commit: %s\r\n\r\n", len(file.data), testCommit)
		buf.Write(file.data[:len(file.data)/2])
		buf.Flush()
		conn.Close()
	default:
		w.Header().Set("ETag", `"`+gitBlobID(file.data)+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(file.data)))
		if r.Method == http.MethodGet {
			w.Write(file.data)
		}
	}
}

func (f *fakeHub) client(t *testing.T) *Client {
	return &Client{Endpoint: f.hub.URL, CacheDir: t.TempDir(), HTTP: f.hub.Client()}
}

func testFiles() map[string]fakeFile {
	return map[string]fakeFile{
		"README.md":                            {data: []byte("# a dataset\n")},
		"data/session1-00000-of-00001.parquet": {data: []byte(strings.Repeat("parquet one ", 300)), mode: "cdn"},
		"data/session2-00000-of-00001.parquet": {data: []byte(strings.Repeat("parquet two ", 200)), mode: "local"},
		"data/cut.parquet":                     {data: []byte(strings.Repeat("x", 5000)), mode: "cut"},
	}
}

func TestListFiles(t *testing.T) {
	f := newFakeHub(t, testFiles())
	c := f.client(t)
	got, err := c.ListFiles(context.Background(), testRepo, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.md", "data/cut.parquet", "data/session1-00000-of-00001.parquet", "data/session2-00000-of-00001.parquet"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListFiles = %q, want %q", got, want)
	}
	ref, err := os.ReadFile(filepath.Join(c.CacheDir, "datasets--Owner--Data_Set", "refs", "main"))
	if err != nil || string(ref) != testCommit {
		t.Errorf("refs/main = %q, %v; want %q", ref, err, testCommit)
	}
	if _, err := c.ListFiles(context.Background(), testRepo, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "revision not found") {
		t.Errorf("unknown revision: err = %v, want a revision-not-found error", err)
	}
}

// checkCached checks the cache layout of a downloaded file.
func checkCached(t *testing.T, c *Client, p, name string, data []byte, etag string) {
	t.Helper()
	folder := filepath.Join(c.CacheDir, "datasets--Owner--Data_Set")
	wantPointer := filepath.Join(folder, "snapshots", testCommit, filepath.FromSlash(name))
	if p != wantPointer {
		t.Errorf("path = %s, want %s", p, wantPointer)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != string(data) {
		t.Errorf("content of %s: %d bytes, %v; want %d bytes", p, len(got), err, len(data))
	}
	target, err := os.Readlink(p)
	if err != nil {
		t.Fatalf("snapshot entry is not a link: %v", err)
	}
	if filepath.IsAbs(target) {
		t.Errorf("link target %s is absolute, want relative", target)
	}
	blob := filepath.Join(folder, "blobs", etag)
	if filepath.Join(filepath.Dir(p), target) != blob {
		t.Errorf("link %s -> %s, want -> %s", p, target, blob)
	}
	ref, err := os.ReadFile(filepath.Join(folder, "refs", "main"))
	if err != nil || string(ref) != testCommit {
		t.Errorf("refs/main = %q, %v; want %q", ref, err, testCommit)
	}
	// A cache is shared with huggingface_hub and between users: its files
	// are readable by all.
	for _, f := range []string{blob, filepath.Join(folder, "refs", "main")} {
		if st, err := os.Stat(f); err != nil {
			t.Error(err)
		} else if st.Mode().Perm() != cacheFileMode {
			t.Errorf("%s: mode %v, want %v", f, st.Mode().Perm(), os.FileMode(cacheFileMode))
		}
	}
	entries, _ := os.ReadDir(filepath.Join(folder, "blobs"))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".incomplete") {
			t.Errorf("leftover temporary file %s", e.Name())
		}
	}
}

func TestDownload(t *testing.T) {
	files := testFiles()
	tests := []struct {
		name  string
		file  string
		token string
		etag  string
	}{
		{"direct", "README.md", "", gitBlobID(files["README.md"].data)},
		{"redirect to CDN", "data/session1-00000-of-00001.parquet", "", sha256Hex(files["data/session1-00000-of-00001.parquet"].data)},
		{"redirect to another path", "data/session2-00000-of-00001.parquet", "", sha256Hex(files["data/session2-00000-of-00001.parquet"].data)},
		{"direct with token", "README.md", "secret", gitBlobID(files["README.md"].data)},
		{"CDN with token", "data/session1-00000-of-00001.parquet", "secret", sha256Hex(files["data/session1-00000-of-00001.parquet"].data)},
		{"other path with token", "data/session2-00000-of-00001.parquet", "secret", sha256Hex(files["data/session2-00000-of-00001.parquet"].data)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHub(t, files)
			f.token = tt.token
			c := f.client(t)
			c.Token = tt.token
			p, err := c.Download(context.Background(), testRepo, "", tt.file)
			if err != nil {
				t.Fatal(err)
			}
			checkCached(t, c, p, tt.file, files[tt.file].data, tt.etag)
			for _, a := range f.cdnAuth {
				if a != "" {
					t.Errorf("the CDN received Authorization %q; the token must go to the hub only", a)
				}
			}
			for _, a := range f.blobAuth {
				if want := "Bearer " + tt.token; tt.token != "" && a != want {
					t.Errorf("the hub's own redirect target received Authorization %q, want %q", a, want)
				}
			}

			// A second call is answered from the cache after one HEAD.
			n := f.requestCount()
			p2, err := c.Download(context.Background(), testRepo, "main", tt.file)
			if err != nil || p2 != p {
				t.Fatalf("second Download = %s, %v; want %s", p2, err, p)
			}
			if extra := f.requestCount() - n; extra != 1 {
				t.Errorf("second Download made %d requests, want 1 (HEAD)", extra)
			}
			// By commit hash: no request at all.
			n = f.requestCount()
			if p3, err := c.Download(context.Background(), testRepo, testCommit, tt.file); err != nil || p3 != p {
				t.Errorf("Download at the commit = %s, %v; want %s", p3, err, p)
			}
			if extra := f.requestCount() - n; extra != 0 {
				t.Errorf("Download at a cached commit made %d requests, want 0", extra)
			}
		})
	}
}

func TestRenamedRepo(t *testing.T) {
	files := testFiles()
	f := newFakeHub(t, files)
	f.token = "secret"
	c := f.client(t)
	c.Token = "secret"
	list, err := c.ListFiles(context.Background(), "Old/Name", "")
	if err != nil || len(list) != len(files) {
		t.Fatalf("ListFiles of a renamed repo = %q, %v", list, err)
	}
	for _, name := range []string{"README.md", "data/session1-00000-of-00001.parquet"} {
		p, err := c.Download(context.Background(), "Old/Name", "", name)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != string(files[name].data) {
			t.Errorf("%s: content %d bytes, %v", name, len(b), err)
		}
	}
}

func TestListFilesErrors(t *testing.T) {
	f := newFakeHub(t, testFiles())
	f.token = "secret"
	c := f.client(t)
	_, err := c.ListFiles(context.Background(), testRepo, "")
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "/api/datasets/"+testRepo+"/revision/main") ||
		!strings.Contains(err.Error(), "Invalid username or password") {
		t.Errorf("ListFiles without token: err = %v, want a 401 naming the URL and the hub's message", err)
	}
	f.token, f.status = "", http.StatusServiceUnavailable
	if _, err := c.ListFiles(context.Background(), testRepo, ""); !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "503") {
		t.Errorf("ListFiles with a 503: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.status = 0
	if _, err := c.ListFiles(ctx, testRepo, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("ListFiles with a cancelled context: err = %v", err)
	}
}

func TestDownloadSharesBlobs(t *testing.T) {
	data := []byte("same content")
	f := newFakeHub(t, map[string]fakeFile{"a.txt": {data: data}, "sub/b.txt": {data: data}})
	c := f.client(t)
	pa, err := c.Download(context.Background(), testRepo, "", "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := f.requestCount()
	pb, err := c.Download(context.Background(), testRepo, "", "sub/b.txt")
	if err != nil {
		t.Fatal(err)
	}
	if extra := f.requestCount() - n; extra != 1 {
		t.Errorf("a file whose blob is cached took %d requests, want 1 (HEAD)", extra)
	}
	checkCached(t, c, pa, "a.txt", data, gitBlobID(data))
	checkCached(t, c, pb, "sub/b.txt", data, gitBlobID(data))
}

func TestDownloadErrors(t *testing.T) {
	tests := []struct {
		name     string
		token    string // the hub requires it
		status   int    // the hub answers it to everything
		repo     string
		rev      string
		file     string
		sentinel error
		says     []string
	}{
		{"no token", "secret", 0, testRepo, "main", "README.md", ErrUnauthorized, []string{"401", "HF_TOKEN", "/resolve/main/README.md"}},
		{"missing file", "", 0, testRepo, "main", "nope.parquet", ErrNotFound, []string{"404", "file not found", "/resolve/main/nope.parquet"}},
		{"missing revision", "", 0, testRepo, "v9", "README.md", ErrNotFound, []string{"404", "revision not found", "/resolve/v9/README.md"}},
		{"missing repo", "", 0, "someone/else", "main", "README.md", ErrNotFound, []string{"404", "repository not found", "/datasets/someone/else/resolve"}},
		{"server error", "", http.StatusInternalServerError, testRepo, "main", "README.md", ErrServer, []string{"500", "server error", "/resolve/main/README.md"}},
		{"bad gateway", "", http.StatusBadGateway, testRepo, "main", "README.md", ErrServer, []string{"502"}},
		{"forbidden", "", http.StatusForbidden, testRepo, "main", "README.md", ErrUnauthorized, []string{"403", "HF_TOKEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHub(t, testFiles())
			f.token, f.status = tt.token, tt.status
			c := f.client(t)
			p, err := c.Download(context.Background(), tt.repo, tt.rev, tt.file)
			if err == nil {
				t.Fatalf("Download = %s, want an error", p)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v is not %v", err, tt.sentinel)
			}
			var se *StatusError
			if !errors.As(err, &se) {
				t.Errorf("error %v is not a *StatusError", err)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

func TestDownloadInvalidArguments(t *testing.T) {
	c := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir()}
	tests := []struct{ repo, rev, file string }{
		{"a/b/c", "main", "x"},
		{"../b", "main", "x"},
		{"", "main", "x"},
		{"a/b", "../main", "x"},
		{"a/b", "main", "../x"},
		{"a/b", "main", "/etc/passwd"},
		{"a/b", "main", "data//x"},
		{"a/b", "main", ""},
	}
	for _, tt := range tests {
		if _, err := c.Download(context.Background(), tt.repo, tt.rev, tt.file); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("Download(%q, %q, %q): err = %v, want an invalid-argument error", tt.repo, tt.rev, tt.file, err)
		}
	}
}

func TestDownloadConnectionCut(t *testing.T) {
	f := newFakeHub(t, testFiles())
	c := f.client(t)
	p, err := c.Download(context.Background(), testRepo, "", "data/cut.parquet")
	if err == nil {
		t.Fatalf("Download = %s, want an error", p)
	}
	for _, s := range []string{"connection lost after 2500 of 5000 bytes", f.hub.URL + "/datasets/" + testRepo + "/resolve/main/data/cut.parquet"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	folder := c.RepoFolder(testRepo)
	for _, dir := range []string{"blobs", "snapshots/" + testCommit} {
		entries, err := os.ReadDir(filepath.Join(folder, filepath.FromSlash(dir)))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range entries {
			t.Errorf("%s holds %s after a failed download", dir, e.Name())
		}
	}
}

func TestDownloadCorrupt(t *testing.T) {
	// The CDN serves other bytes than the hub's ETag names.
	f := newFakeHub(t, map[string]fakeFile{"a.bin": {data: []byte("good content"), mode: "cdn"}})
	good := sha256Hex([]byte("good content"))
	f.cdn.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("bad content!"))
	})
	c := f.client(t)
	if p, err := c.Download(context.Background(), testRepo, "", "a.bin"); err == nil || !strings.Contains(err.Error(), "does not match the ETag "+good) {
		t.Fatalf("Download = %s, %v; want a hash mismatch error", p, err)
	}
	entries, _ := os.ReadDir(filepath.Join(c.RepoFolder(testRepo), "blobs"))
	if len(entries) != 0 {
		t.Errorf("blobs holds %d entries after a corrupt download", len(entries))
	}
}

func TestCacheWithoutNetwork(t *testing.T) {
	f := newFakeHub(t, testFiles())
	c := f.client(t)
	name := "data/session1-00000-of-00001.parquet"
	p, err := c.Download(context.Background(), testRepo, "", name)
	if err != nil {
		t.Fatal(err)
	}
	// Online, the hub has a server error: the cache answers.
	f.status = http.StatusBadGateway
	if got, err := c.Download(context.Background(), testRepo, "", name); err != nil || got != p {
		t.Errorf("Download with a 502 = %s, %v; want %s", got, err, p)
	}
	if files, err := c.ListFiles(context.Background(), testRepo, ""); err != nil || !reflect.DeepEqual(files, []string{name}) {
		t.Errorf("ListFiles with a 502 = %q, %v; want the cached file", files, err)
	}
	// But a refusal is not hidden by the cache.
	f.status = http.StatusUnauthorized
	if _, err := c.Download(context.Background(), testRepo, "", name); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Download with a 401: err = %v, want ErrUnauthorized", err)
	}
	f.status = 0
	f.close()

	// Online, but the hub is gone: the cache answers.
	got, err := c.Download(context.Background(), testRepo, "", name)
	if err != nil || got != p {
		t.Errorf("Download with the hub down = %s, %v; want %s", got, err, p)
	}
	files, err := c.ListFiles(context.Background(), testRepo, "")
	if err != nil || !reflect.DeepEqual(files, []string{name}) {
		t.Errorf("ListFiles with the hub down = %q, %v; want the cached file", files, err)
	}
	// Not cached: the network error, with the URL.
	if _, err := c.Download(context.Background(), testRepo, "", "README.md"); err == nil || !strings.Contains(err.Error(), f.hub.URL+"/datasets/"+testRepo+"/resolve/main/README.md") {
		t.Errorf("Download of an uncached file with the hub down: err = %v, want a network error naming the URL", err)
	}
	// and what to do without a network: local files, or the cache.
	for _, op := range []func() error{
		func() error { _, err := c.Download(context.Background(), testRepo, "", "README.md"); return err },
		func() error { _, err := c.ListFiles(context.Background(), "other/repo", ""); return err },
	} {
		err := op()
		for _, s := range []string{"cannot reach the Hugging Face hub at " + f.hub.URL, "--data", "HF_HUB_OFFLINE=1"} {
			if err == nil || !strings.Contains(err.Error(), s) {
				t.Errorf("hub down, nothing cached: error %v does not say %q", err, s)
			}
		}
	}

	// Offline: the cache answers, no network at all.
	off := &Client{Endpoint: "http://offline.invalid", CacheDir: c.CacheDir, Offline: true}
	got, err = off.Download(context.Background(), testRepo, "", name)
	if err != nil || got != p {
		t.Errorf("offline Download = %s, %v; want %s", got, err, p)
	}
	files, err = off.ListFiles(context.Background(), testRepo, "main")
	if err != nil || !reflect.DeepEqual(files, []string{name}) {
		t.Errorf("offline ListFiles = %q, %v; want the cached file", files, err)
	}
	_, err = off.Download(context.Background(), testRepo, "", "data/session2-00000-of-00001.parquet")
	if !errors.Is(err, ErrNotCached) {
		t.Errorf("offline miss: err = %v, want ErrNotCached", err)
	}
	for _, s := range []string{"data/session2-00000-of-00001.parquet", "offline", "online", "--data"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("offline miss error %v does not say %q", err, s)
		}
	}
	if _, err := off.ListFiles(context.Background(), "other/repo", "main"); !errors.Is(err, ErrNotCached) {
		t.Errorf("offline ListFiles of an uncached repo: err = %v, want ErrNotCached", err)
	}
	if _, err := off.Download(context.Background(), testRepo, "v2", name); !errors.Is(err, ErrNotCached) {
		t.Errorf("offline Download at an unknown revision: err = %v, want ErrNotCached", err)
	}
}

func TestDownloadCopiesWhereLinksFail(t *testing.T) {
	// A snapshot entry that exists as a plain file (a copy, as made where
	// links fail) is served as is.
	f := newFakeHub(t, testFiles())
	c := f.client(t)
	p := c.snapshotPath(testRepo, testCommit, "README.md")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.writeRef(testRepo, "main", testCommit); err != nil {
		t.Fatal(err)
	}
	c.Offline = true
	got, err := c.Download(context.Background(), testRepo, "main", "README.md")
	if err != nil || got != p {
		t.Errorf("Download = %s, %v; want %s", got, err, p)
	}
	// copyFile is the fallback of link.
	dst := filepath.Join(t.TempDir(), "dst")
	if err := copyFile(p, dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "copy" {
		t.Errorf("copyFile wrote %q", b)
	}
	if st, err := os.Stat(dst); err != nil {
		t.Error(err)
	} else if st.Mode().Perm() != cacheFileMode {
		t.Errorf("copyFile's copy: mode %v, want %v", st.Mode().Perm(), os.FileMode(cacheFileMode))
	}
}

func TestNewClientFromEnv(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name string
		env  map[string]string
		want Client
	}{
		{
			name: "defaults",
			env:  map[string]string{"HOME": home},
			want: Client{Endpoint: DefaultEndpoint, CacheDir: filepath.Join(home, ".cache", "huggingface", "hub")},
		},
		{
			name: "everything set",
			env: map[string]string{"HF_ENDPOINT": "https://hub.example/", "HF_TOKEN": "tok", "HUGGING_FACE_HUB_TOKEN": "old",
				"HF_HUB_CACHE": "/c/hub", "HF_HOME": "/h", "HF_HUB_OFFLINE": "1"},
			want: Client{Endpoint: "https://hub.example", Token: "tok", CacheDir: "/c/hub", Offline: true},
		},
		{
			name: "legacy token, HF_HOME",
			env:  map[string]string{"HUGGING_FACE_HUB_TOKEN": "old", "HF_HOME": "/h", "HF_HUB_OFFLINE": "TRUE"},
			want: Client{Endpoint: DefaultEndpoint, Token: "old", CacheDir: "/h/hub", Offline: true},
		},
		{
			name: "XDG cache, offline yes",
			env:  map[string]string{"XDG_CACHE_HOME": "/x", "HF_HUB_OFFLINE": "yes"},
			want: Client{Endpoint: DefaultEndpoint, CacheDir: "/x/huggingface/hub", Offline: true},
		},
		{
			name: "offline 0",
			env:  map[string]string{"HF_HOME": "/h", "HF_HUB_OFFLINE": "0"},
			want: Client{Endpoint: DefaultEndpoint, CacheDir: "/h/hub"},
		},
		{
			name: "token file",
			env:  map[string]string{"HF_HOME": filepath.Join(home, "withtoken")},
			want: Client{Endpoint: DefaultEndpoint, Token: "from-file", CacheDir: filepath.Join(home, "withtoken", "hub")},
		},
	}
	if err := os.MkdirAll(filepath.Join(home, "withtoken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "withtoken", "token"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := []string{"HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
		"HF_HOME", "XDG_CACHE_HOME", "HF_HUB_OFFLINE", "HF_TOKEN_PATH"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			for _, v := range vars {
				t.Setenv(v, "")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := NewClientFromEnv()
			if c.HTTP == nil {
				t.Error("HTTP is nil")
			}
			c.HTTP = nil
			if *c != tt.want {
				t.Errorf("NewClientFromEnv() = %+v, want %+v", *c, tt.want)
			}
		})
	}
}

func TestResolveURL(t *testing.T) {
	c := &Client{Endpoint: "https://hub.example/"}
	tests := []struct{ repo, rev, file, want string }{
		{"Zahra99/IEMOCAP_Text", "main", "data/session1-00000-of-00001.parquet",
			"https://hub.example/datasets/Zahra99/IEMOCAP_Text/resolve/main/data/session1-00000-of-00001.parquet"},
		{"a/b", "refs/convert/parquet", "default/train/0000.parquet",
			"https://hub.example/datasets/a/b/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet"},
		{"a/b", "main", "with space/x#y.txt", "https://hub.example/datasets/a/b/resolve/main/with%20space/x%23y.txt"},
	}
	for _, tt := range tests {
		if got := c.ResolveURL(tt.repo, tt.rev, tt.file); got != tt.want {
			t.Errorf("ResolveURL(%q, %q, %q) = %s, want %s", tt.repo, tt.rev, tt.file, got, tt.want)
		}
	}
}

func TestNormalizeETag(t *testing.T) {
	tests := map[string]string{`"abc"`: "abc", `W/"abc"`: "abc", "abc": "abc", "": "", ` "a" `: "a"}
	for in, want := range tests {
		if got := normalizeETag(in); got != want {
			t.Errorf("normalizeETag(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLinkReplacesInPlace points a snapshot entry that exists (a stale
// copy, then a link to another blob) at a new blob: the entry ends as a
// relative link to it, with nothing left beside it.
func TestLinkReplacesInPlace(t *testing.T) {
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"old", "new"} {
		if err := os.WriteFile(filepath.Join(blobs, b), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pointer := filepath.Join(dir, "snapshots", "abc", "data", "file.parquet")
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pointer, []byte("stale copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"old", "new"} {
		if err := link(filepath.Join(blobs, b), pointer); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(pointer); err != nil || string(got) != b {
			t.Errorf("after linking to %s the entry reads %q, %v", b, got, err)
		}
		if target, err := os.Readlink(pointer); err != nil || filepath.IsAbs(target) {
			t.Errorf("entry: link %q, %v; want a relative link", target, err)
		}
	}
	ents, err := os.ReadDir(filepath.Dir(pointer))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("%d entries beside the link, want only it: %v", len(ents), ents)
	}
}

// TestSnapshot: the listing gives the commit the revision resolved to, and
// records it in refs/ and the file list beside snapshots/, never inside
// huggingface_hub's snapshots/ or blobs/.
func TestSnapshot(t *testing.T) {
	f := newFakeHub(t, testFiles())
	c := f.client(t)
	commit, files, err := c.Snapshot(context.Background(), testRepo, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.md", "data/cut.parquet", "data/session1-00000-of-00001.parquet", "data/session2-00000-of-00001.parquet"}
	if commit != testCommit || !reflect.DeepEqual(files, want) {
		t.Errorf("Snapshot = %s, %q; want %s, %q", commit, files, testCommit, want)
	}
	if ref, err := os.ReadFile(filepath.Join(c.RepoFolder(testRepo), "refs", "main")); err != nil || string(ref) != testCommit {
		t.Errorf("refs/main = %q, %v", ref, err)
	}
	rec := filepath.Join(c.RepoFolder(testRepo), ".emotion", "files-"+testCommit)
	if st, err := os.Stat(rec); err != nil || st.Mode().Perm() != cacheFileMode {
		t.Errorf("recorded listing %s: %v, %v", rec, st, err)
	}
	for _, dir := range []string{"snapshots", "blobs"} {
		if _, err := os.Stat(filepath.Join(c.RepoFolder(testRepo), dir)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/ after a listing alone: %v, want none", dir, err)
		}
	}
	// A listing without a commit hash is not a hub's.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"siblings": []map[string]string{{"rfilename": "a.parquet"}}})
	}))
	defer srv.Close()
	bad := &Client{Endpoint: srv.URL, CacheDir: t.TempDir(), HTTP: srv.Client()}
	if _, _, err := bad.Snapshot(context.Background(), "a/b", ""); err == nil || !strings.Contains(err.Error(), "no commit hash") {
		t.Errorf("Snapshot of a listing without sha: err = %v", err)
	}
}

// TestCachedListingIsComplete: when the cache answers for the hub (offline,
// hub down, 5xx) after an online listing, it lists every file of the commit,
// not only those an interrupted run downloaded, so that the missing ones fail
// to download instead of being silently left out. Without a recorded
// listing (a cache written by huggingface_hub) the snapshot's files are
// listed.
func TestCachedListingIsComplete(t *testing.T) {
	f := newFakeHub(t, testFiles())
	c := f.client(t)
	all, err := c.ListFiles(context.Background(), testRepo, "")
	if err != nil {
		t.Fatal(err)
	}
	name := "data/session1-00000-of-00001.parquet"
	if _, err := c.Download(context.Background(), testRepo, testCommit, name); err != nil {
		t.Fatal(err)
	}
	f.status = http.StatusServiceUnavailable
	if commit, files, err := c.Snapshot(context.Background(), testRepo, ""); err != nil || commit != testCommit || !reflect.DeepEqual(files, all) {
		t.Errorf("Snapshot with a 503 = %s, %q, %v; want %s, %q", commit, files, err, testCommit, all)
	}
	f.status = 0
	f.close()

	off := &Client{Endpoint: "http://offline.invalid", CacheDir: c.CacheDir, Offline: true}
	commit, files, err := off.Snapshot(context.Background(), testRepo, "main")
	if err != nil || commit != testCommit || !reflect.DeepEqual(files, all) {
		t.Errorf("offline Snapshot = %s, %q, %v; want %s, %q", commit, files, err, testCommit, all)
	}
	missing := "data/session2-00000-of-00001.parquet"
	_, err = off.Download(context.Background(), testRepo, commit, missing)
	if !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "not in the cache") {
		t.Errorf("offline Download of a listed, uncached file: err = %v, want ErrNotCached naming %s", err, missing)
	}

	// A cache without the record, as huggingface_hub leaves it.
	if err := os.RemoveAll(filepath.Join(c.RepoFolder(testRepo), ".emotion")); err != nil {
		t.Fatal(err)
	}
	if files, err := off.ListFiles(context.Background(), testRepo, "main"); err != nil || !reflect.DeepEqual(files, []string{name}) {
		t.Errorf("offline ListFiles without a recorded listing = %q, %v; want the snapshot's %q", files, err, name)
	}
}

// TestNewClientFromEnvExpandsPaths: a leading ~ and $VAR in the path
// variables are expanded, as huggingface_hub's expanduser and expandvars do.
func TestNewClientFromEnvExpandsPaths(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "tok"), []byte("from-tilde\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		cache     string
		wantToken string
	}{
		{"HF_HOME ~/", map[string]string{"HF_HOME": "~/hf"}, filepath.Join(home, "hf", "hub"), ""},
		{"HF_HOME ~", map[string]string{"HF_HOME": "~"}, filepath.Join(home, "hub"), ""},
		{"HF_HOME $VAR", map[string]string{"HF_HOME": "$BASE/hf", "BASE": "/b"}, "/b/hf/hub", ""},
		{"XDG_CACHE_HOME ${VAR}", map[string]string{"XDG_CACHE_HOME": "${BASE}/c", "BASE": "/b"}, "/b/c/huggingface/hub", ""},
		{"HF_HUB_CACHE ~/", map[string]string{"HF_HUB_CACHE": "~/hubcache"}, filepath.Join(home, "hubcache"), ""},
		{"HUGGINGFACE_HUB_CACHE $VAR", map[string]string{"HUGGINGFACE_HUB_CACHE": "$BASE/legacy", "BASE": "/b"}, "/b/legacy", ""},
		{"HF_TOKEN_PATH ~/", map[string]string{"HF_HOME": "/h", "HF_TOKEN_PATH": "~/tok"}, "/h/hub", "from-tilde"},
		{"~user is left", map[string]string{"HF_HOME": "~user/hf"}, "~user/hf/hub", ""},
	}
	vars := []string{"HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
		"HF_HOME", "XDG_CACHE_HOME", "HF_HUB_OFFLINE", "HF_TOKEN_PATH", "BASE"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			for _, v := range vars {
				t.Setenv(v, "")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := NewClientFromEnv()
			if c.CacheDir != tt.cache || c.Token != tt.wantToken {
				t.Errorf("CacheDir %q, Token %q; want %q, %q", c.CacheDir, c.Token, tt.cache, tt.wantToken)
			}
		})
	}
}
