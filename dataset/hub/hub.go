// Package hub downloads files of dataset repositories from the Hugging Face
// hub into the cache layout of the Python huggingface_hub library, so that
// both share one cache and a file downloaded by either is found by the other.
//
// # The hub's HTTP API
//
// Listing a repository's files at a revision (a branch, a tag or a commit
// hash; "main" by default):
//
//	GET {endpoint}/api/datasets/{owner}/{name}/revision/{revision}
//	  → {"id": "owner/name", "sha": "<commit>", "siblings": [{"rfilename": "data/x.parquet"}, …]}
//
// The same listing, paginated (a Link header names the next page), with
// sizes and object ids:
//
//	GET {endpoint}/api/datasets/{owner}/{name}/tree/{revision}?recursive=true
//	  → [{"type": "file", "path": "data/x.parquet", "oid": "…", "size": 123, "lfs": {…}}, …]
//
// The parquet conversion of a dataset (the refs/convert/parquet branch):
//
//	GET {endpoint}/api/datasets/{owner}/{name}/parquet
//	  → {"<config>": {"<split>": ["<url of a parquet file>", …]}}
//
// A file's content:
//
//	HEAD|GET {endpoint}/datasets/{owner}/{name}/resolve/{revision}/{path}
//
// The revision is path-escaped as one segment (refs/convert/parquet becomes
// refs%2Fconvert%2Fparquet). The resolve response carries X-Repo-Commit (the
// commit the revision resolved to) and an ETag: for a file stored in git,
// the git blob sha1 of its content; for a file stored in LFS, the hub
// answers with a redirect to a CDN and gives the sha256 of the content in
// X-Linked-Etag and its size in X-Linked-Size. ETags are quoted and may be
// weak (W/"…"); the quotes and W/ are removed. Redirects are followed, but
// the token is sent only to the endpoint's own host, never to a CDN.
// Errors come with X-Error-Code (RepoNotFound, RevisionNotFound,
// EntryNotFound, GatedRepo) and X-Error-Message headers; a repository that
// does not exist or is private answers 401 to a request without a token.
//
// # The cache
//
// The cache directory is $HF_HUB_CACHE, else $HF_HOME/hub, with HF_HOME
// defaulting to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface (a
// leading ~ and $VAR in these are expanded, as huggingface_hub does). A
// dataset repository owner/name lives in datasets--owner--name:
//
//	blobs/{etag}                    the content, named by its ETag
//	snapshots/{commit}/{path}       a relative symbolic link to the blob (a copy where links fail)
//	refs/{revision}                 the commit hash the revision last resolved to
//	.emotion/files-{commit}         this package's record of the listing at commit (a JSON array of paths)
//
// The last is not part of huggingface_hub's layout, which ignores it (it
// keeps its own .no_exist/ there likewise): offline, it lists the files of
// the commit that are not cached too, so that a snapshot an interrupted
// download left partial is an error rather than a silently shorter list.
//
// A download streams into blobs/{etag}.<random>.incomplete and is renamed into
// place only when all of it arrived: its size matches Content-Length and its
// hash matches the ETag. A file whose revision is in refs/ and whose snapshot
// entry exists is served without network when offline, or when the hub
// cannot be reached; online, a HEAD request checks which commit the revision
// now names. Snapshot gives the commit of a listing, so that all the files
// are then downloaded at that one commit.
package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultEndpoint is the hub used when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// DefaultRevision is the revision used when none is given.
const DefaultRevision = "main"

// maxRedirects bounds the redirects followed for one request.
const maxRedirects = 10

// userAgent identifies this client to the hub.
const userAgent = "emotion-hub/1 (go)"

// Errors that StatusError and the cache lookups wrap, for errors.Is.
var (
	// ErrUnauthorized: the hub refused the request (401 or 403).
	ErrUnauthorized = errors.New("access refused by the hub")
	// ErrNotFound: the repository, revision or file does not exist (404).
	ErrNotFound = errors.New("not found on the hub")
	// ErrServer: the hub answered with a 5xx status.
	ErrServer = errors.New("hub server error")
	// ErrNotCached: offline, and the file or listing is not in the cache.
	ErrNotCached = errors.New("not in the local cache")
)

// Client talks to a Hugging Face hub and keeps downloaded files in a cache
// shared with huggingface_hub. The zero value is usable: it uses
// DefaultEndpoint, no token, the default cache directory and
// http.DefaultClient.
type Client struct {
	Endpoint string       // from HF_ENDPOINT, default "https://huggingface.co"
	Token    string       // from HF_TOKEN (or HUGGING_FACE_HUB_TOKEN, or the token file); sent as "Authorization: Bearer <token>" to Endpoint's host only
	CacheDir string       // hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, HF_HOME default ~/.cache/huggingface
	Offline  bool         // HF_HUB_OFFLINE=1 (also "true", "yes", "on"): never touch the network
	HTTP     *http.Client // nil means http.DefaultClient
}

// NewClientFromEnv returns a Client configured as huggingface_hub configures
// itself from the environment:
//
//   - Endpoint: HF_ENDPOINT, default DefaultEndpoint.
//   - Token: HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the contents of the
//     file that `huggingface-cli login` writes ($HF_TOKEN_PATH, default
//     $HF_HOME/token), else none.
//   - CacheDir: HF_HUB_CACHE, else the legacy HUGGINGFACE_HUB_CACHE, else
//     $HF_HOME/hub; HF_HOME defaults to $XDG_CACHE_HOME/huggingface, and
//     XDG_CACHE_HOME to ~/.cache.
//   - In the paths (HF_HOME, XDG_CACHE_HOME, HF_HUB_CACHE,
//     HUGGINGFACE_HUB_CACHE, HF_TOKEN_PATH), a leading ~ is the home
//     directory and $VAR or ${VAR} the variable's value, as huggingface_hub
//     expands them.
//   - Offline: HF_HUB_OFFLINE is 1, true, yes or on (any case).
//   - HTTP: a client without an overall timeout (downloads may be long) but
//     with connection and response-header timeouts; cancel through the context.
func NewClientFromEnv() *Client {
	home := hfHome()
	c := &Client{
		Endpoint: strings.TrimRight(envOr(DefaultEndpoint, "HF_ENDPOINT"), "/"),
		Token:    envOr("", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
		CacheDir: envPath(filepath.Join(home, "hub"), "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"),
		Offline:  isTrue(os.Getenv("HF_HUB_OFFLINE")),
		HTTP:     defaultHTTPClient(),
	}
	if c.Token == "" {
		tokenPath := envPath(filepath.Join(home, "token"), "HF_TOKEN_PATH")
		if b, err := os.ReadFile(tokenPath); err == nil {
			c.Token = strings.TrimSpace(string(b))
		}
	}
	return c
}

// envOr returns the first non-empty (after trimming) of the named
// environment variables, or def.
func envOr(def string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return def
}

// envPath is envOr for a path: the variable's value is expanded by
// expandPath (def, a path made of expanded parts, is returned as it is).
func envPath(def string, names ...string) string {
	if v := envOr("", names...); v != "" {
		return expandPath(v)
	}
	return def
}

// expandPath expands, in a path read from the environment, a leading "~"
// or "~/" to the home directory, then $VAR and ${VAR} (an unset variable
// becoming empty), as huggingface_hub expands its paths with
// os.path.expanduser and os.path.expandvars. Other paths are returned as
// they are.
func expandPath(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		if home, err := os.UserHomeDir(); err == nil {
			p = home + p[1:]
		}
	}
	if strings.Contains(p, "$") {
		p = os.ExpandEnv(p)
	}
	return p
}

// hfHome is $HF_HOME, else $XDG_CACHE_HOME/huggingface, else
// ~/.cache/huggingface, with a leading ~ and $VAR expanded (expandPath).
func hfHome() string {
	if v := strings.TrimSpace(os.Getenv("HF_HOME")); v != "" {
		return expandPath(v)
	}
	if v := strings.TrimSpace(os.Getenv("XDG_CACHE_HOME")); v != "" {
		return filepath.Join(expandPath(v), "huggingface")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "huggingface")
	}
	return filepath.Join(home, ".cache", "huggingface")
}

// isTrue reports whether an environment value means true, as
// huggingface_hub reads it.
func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: tr}
}

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/")
}

func (c *Client) cacheDir() string {
	if c.CacheDir != "" {
		return c.CacheDir
	}
	return filepath.Join(hfHome(), "hub")
}

// StatusError is an HTTP error answer of the hub (or of the CDN it
// redirected to). It unwraps to ErrUnauthorized, ErrNotFound or ErrServer.
type StatusError struct {
	Method     string
	URL        string
	StatusCode int
	Code       string // the hub's X-Error-Code, e.g. "RepoNotFound"; may be empty
	Message    string // the hub's X-Error-Message; may be empty
}

// Error says what failed, at which URL, and what to do about it.
func (e *StatusError) Error() string {
	var what string
	switch {
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		what = "access refused (the repository is private, gated or does not exist): " +
			"set HF_TOKEN to a token that can read it, and check that you accepted its conditions on the hub"
	case e.StatusCode == http.StatusNotFound:
		switch e.Code {
		case "RepoNotFound":
			what = "repository not found"
		case "RevisionNotFound":
			what = "revision not found"
		case "EntryNotFound":
			what = "file not found in the repository at this revision"
		default:
			what = "repository, revision or file not found"
		}
	case e.StatusCode >= 500:
		what = "hub server error, try again later"
	default:
		what = "unexpected answer"
	}
	s := fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode), what)
	if e.Message != "" {
		s += " (hub says: " + e.Message + ")"
	}
	return s
}

// Unwrap returns the sentinel error of the status class.
func (e *StatusError) Unwrap() error {
	switch {
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return ErrUnauthorized
	case e.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case e.StatusCode >= 500:
		return ErrServer
	}
	return nil
}

func statusError(resp *http.Response) *StatusError {
	return &StatusError{
		Method:     resp.Request.Method,
		URL:        resp.Request.URL.String(),
		StatusCode: resp.StatusCode,
		Code:       resp.Header.Get("X-Error-Code"),
		Message:    resp.Header.Get("X-Error-Message"),
	}
}

// checkRepo accepts "name" or "owner/name" with no empty, "." or ".."
// parts.
func checkRepo(repo string) error {
	parts := strings.Split(repo, "/")
	if len(parts) > 2 || !safeParts(parts) {
		return fmt.Errorf("invalid dataset repository %q: want owner/name", repo)
	}
	return nil
}

// checkRepoPath accepts a slash-separated relative path with no empty, "."
// or ".." parts (a revision or a file name), so that it stays inside the
// cache folder it is joined to.
func checkRepoPath(kind, p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || !safeParts(strings.Split(p, "/")) {
		return fmt.Errorf("invalid %s %q", kind, p)
	}
	return nil
}

func safeParts(parts []string) bool {
	for _, s := range parts {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "\x00\\") {
			return false
		}
	}
	return true
}

// isCommitHash reports whether rev is a full 40-hex-digit commit hash.
func isCommitHash(rev string) bool {
	if len(rev) != 40 {
		return false
	}
	for _, r := range rev {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// RepoFolder returns the directory of a dataset repository in the cache:
// {cache}/datasets--{owner}--{name}.
func (c *Client) RepoFolder(repo string) string {
	return filepath.Join(c.cacheDir(), "datasets--"+strings.ReplaceAll(repo, "/", "--"))
}

func escapeRepo(repo string) string {
	parts := strings.Split(repo, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// ResolveURL is the URL of a file of a dataset repository at revision:
// {endpoint}/datasets/{repo}/resolve/{revision}/{filename}.
func (c *Client) ResolveURL(repo, revision, filename string) string {
	parts := strings.Split(filename, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return c.endpoint() + "/datasets/" + escapeRepo(repo) + "/resolve/" +
		url.PathEscape(revision) + "/" + strings.Join(parts, "/")
}

// do sends a request to rawURL and follows redirects itself, up to
// maxRedirects, sending the token only to the endpoint's host. When
// resolving is set, a redirect is not followed, and its response returned,
// when it goes to another host or when it carries X-Repo-Commit: then it is
// the hub's answer about a file, whose headers are wanted rather than those
// of the place the content is served from (huggingface_hub's HEAD requests
// likewise follow only relative redirects, such as those of a renamed
// repository). The caller closes the body.
func (c *Client) do(ctx context.Context, method, rawURL string, resolving bool) (*http.Response, error) {
	hc := http.DefaultClient
	if c.HTTP != nil {
		hc = c.HTTP
	}
	noFollow := *hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	ep, err := url.Parse(c.endpoint())
	if err != nil {
		return nil, fmt.Errorf("invalid hub endpoint %q: %w", c.endpoint(), err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", rawURL, err)
	}
	for i := 0; ; i++ {
		req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, u, err)
		}
		req.Header.Set("User-Agent", userAgent)
		// The size and hash checks are of the bytes as stored.
		req.Header.Set("Accept-Encoding", "identity")
		if c.Token != "" && sameHost(u, ep) {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, u, err)
		}
		if !isRedirect(resp.StatusCode) {
			return resp, nil
		}
		loc, err := resp.Location()
		if err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("%s %s: redirect without a valid Location: %w", method, u, err)
		}
		if resolving && (!sameHost(loc, u) || resp.Header.Get("X-Repo-Commit") != "") {
			return resp, nil
		}
		resp.Body.Close()
		if i == maxRedirects {
			return nil, fmt.Errorf("%s %s: more than %d redirects", method, rawURL, maxRedirects)
		}
		if loc.Scheme != "http" && loc.Scheme != "https" {
			return nil, fmt.Errorf("%s %s: redirect to unsupported URL %s", method, u, loc)
		}
		u = loc
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

func sameHost(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && strings.EqualFold(a.Host, b.Host)
}

// ListFiles lists the files of a dataset repository at revision ("" means
// "main"), as slash-separated paths in lexical order: Snapshot without the
// commit (see Snapshot for the refs/ and listing it records, and for what
// the cache answers offline).
func (c *Client) ListFiles(ctx context.Context, repo, revision string) ([]string, error) {
	_, files, err := c.Snapshot(ctx, repo, revision)
	return files, err
}

// Snapshot resolves revision ("" means "main") of a dataset repository to a
// commit hash and lists the repository's files at that commit, as
// slash-separated paths in lexical order. Downloading each file at commit
// (rather than at revision, which may move meanwhile) gives the files of one
// commit, as huggingface_hub's snapshot_download does; a download at a
// commit hash does not touch refs/.
//
// Online, the hub's listing gives the commit ("sha"; an answer without one
// is an error, as for huggingface_hub); Snapshot records in
// the cache's refs/ that revision names it, and records the listing in the
// repository's cache folder (.emotion/files-{commit}, beside snapshots/).
//
// Offline, or when the hub cannot be reached or has a server error, the
// commit is the one refs/ names (or revision itself, a commit hash), and the
// files are those of the recorded listing, so that a file an earlier,
// interrupted run did not download is listed and its Download then fails
// rather than being silently left out. Without a recorded listing (a cache
// written by huggingface_hub), the files are those of the commit's snapshot
// folder: the files downloaded before. Offline, an error wraps ErrNotCached
// when the cache knows no files of the revision.
func (c *Client) Snapshot(ctx context.Context, repo, revision string) (commit string, files []string, err error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := checkRepo(repo); err != nil {
		return "", nil, err
	}
	if err := checkRepoPath("revision", revision); err != nil {
		return "", nil, err
	}
	if c.Offline {
		commit, files, err := c.cachedFiles(repo, revision)
		if err != nil {
			return "", nil, c.offlineError(repo, revision, "the file list", err)
		}
		return commit, files, nil
	}
	u := c.endpoint() + "/api/datasets/" + escapeRepo(repo) + "/revision/" + url.PathEscape(revision)
	commit, files, err = c.listRemote(ctx, u, repo, revision)
	if err != nil {
		if canUseCache(ctx, err) {
			if commit, cached, cerr := c.cachedFiles(repo, revision); cerr == nil {
				return commit, cached, nil
			}
		}
		return "", nil, c.unreachable(ctx, fmt.Errorf("list files of dataset %s at %s: %w", repo, revision, err))
	}
	return commit, files, nil
}

func (c *Client) listRemote(ctx context.Context, u, repo, revision string) (string, []string, error) {
	resp, err := c.do(ctx, http.MethodGet, u, false)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, statusError(resp)
	}
	var info struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
		} `json:"siblings"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return "", nil, fmt.Errorf("GET %s: decode dataset info: %w", u, err)
	}
	if !isCommitHash(info.SHA) {
		return "", nil, fmt.Errorf("GET %s: no commit hash in the answer's \"sha\" (got %q): is %s a Hugging Face hub? (check HF_ENDPOINT)",
			u, info.SHA, c.endpoint())
	}
	files := make([]string, 0, len(info.Siblings))
	for _, s := range info.Siblings {
		if s.RFilename != "" {
			files = append(files, s.RFilename)
		}
	}
	sort.Strings(files)
	if err := c.writeRef(repo, revision, info.SHA); err != nil {
		return "", nil, err
	}
	// Best effort: without the record (a read-only cache, say), the cache
	// answers later with the files it holds, as for huggingface_hub's cache.
	_ = c.writeListing(repo, info.SHA, files)
	return info.SHA, files, nil
}

// listingPath is where the listing of the repository's files at commit is
// recorded: in a folder of the repository's cache folder beside blobs/,
// refs/ and snapshots/ (as huggingface_hub keeps .no_exist/), which
// huggingface_hub's cache scans ignore.
func (c *Client) listingPath(repo, commit string) string {
	return filepath.Join(c.RepoFolder(repo), ".emotion", "files-"+commit)
}

// writeListing records files, the listing of the repository at commit, as
// a JSON array, through a temporary file renamed into place, unless the same
// listing is recorded already.
func (c *Client) writeListing(repo, commit string, files []string) error {
	p := c.listingPath(repo, commit)
	b, err := json.Marshal(files)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(p); err == nil && string(old) == string(b) {
		return nil
	}
	if err := writeCacheFile(p, ".files-*.incomplete", b); err != nil {
		return fmt.Errorf("record file list %s: %w", p, err)
	}
	return nil
}

// writeCacheFile writes data to path through a temporary file (named by
// pattern, in path's folder, which it makes) renamed into place, with the
// cache's file mode; nothing is left behind on an error.
func writeCacheFile(path, pattern string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), pattern)
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Chmod(cacheFileMode)
	}
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
	}
	return werr
}

// readListing returns the listing recorded for commit; an error wrapping
// fs.ErrNotExist when none is.
func (c *Client) readListing(repo, commit string) ([]string, error) {
	p := c.listingPath(repo, commit)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var files []string
	if err := json.Unmarshal(b, &files); err != nil {
		return nil, fmt.Errorf("recorded file list %s: %w", p, err)
	}
	return files, nil
}

// canUseCache reports whether a failed request may be answered from the
// cache instead, as huggingface_hub does: when the hub could not be reached
// or had a server error, but not when it said no (401, 403, 404) or the
// caller cancelled.
func canUseCache(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var se *StatusError
	return !errors.As(err, &se) || errors.Is(err, ErrServer)
}

// commitOf returns the commit that revision names in the cache: revision
// itself when it is a commit hash, else the contents of refs/{revision}.
func (c *Client) commitOf(repo, revision string) (string, error) {
	if isCommitHash(revision) {
		return revision, nil
	}
	ref := filepath.Join(c.RepoFolder(repo), "refs", filepath.FromSlash(revision))
	b, err := os.ReadFile(ref)
	if err != nil {
		return "", fmt.Errorf("%w: no ref %s", ErrNotCached, ref)
	}
	commit := strings.TrimSpace(string(b))
	if !isCommitHash(commit) {
		return "", fmt.Errorf("%w: ref %s holds %q, not a commit hash", ErrNotCached, ref, commit)
	}
	return commit, nil
}

// cachedFiles answers a listing from the cache: the commit revision names
// there, and the files of the listing recorded for it, else those of its
// snapshot folder.
func (c *Client) cachedFiles(repo, revision string) (string, []string, error) {
	commit, err := c.commitOf(repo, revision)
	if err != nil {
		return "", nil, err
	}
	files, err := c.readListing(repo, commit)
	if err == nil {
		return commit, files, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("%w: %v", ErrNotCached, err)
	}
	root := filepath.Join(c.RepoFolder(repo), "snapshots", commit)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if _, err := os.Stat(p); err != nil { // a dangling link is not a cached file
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("%w: snapshot %s: %v", ErrNotCached, root, err)
	}
	if len(files) == 0 {
		return "", nil, fmt.Errorf("%w: snapshot %s is empty", ErrNotCached, root)
	}
	sort.Strings(files)
	return commit, files, nil
}

// cachedPath returns the snapshot entry of filename at revision when it
// exists and points to an existing blob.
func (c *Client) cachedPath(repo, revision, filename string) (string, error) {
	commit, err := c.commitOf(repo, revision)
	if err != nil {
		return "", err
	}
	p := c.snapshotPath(repo, commit, filename)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: %s", ErrNotCached, p)
	}
	return p, nil
}

func (c *Client) snapshotPath(repo, commit, filename string) string {
	return filepath.Join(c.RepoFolder(repo), "snapshots", commit, filepath.FromSlash(filename))
}

func (c *Client) offlineError(repo, revision, what string, cause error) error {
	return fmt.Errorf("offline mode (HF_HUB_OFFLINE is set) and %s of dataset %s at revision %s is not in the cache %s (%w): "+
		"run once online to download it, or pass a local path with --data (e.g. a folder of parquet files)",
		what, repo, revision, c.cacheDir(), cause)
}

// unreachable adds to err, when the hub could not be reached at all (a
// network error, not an answer), what to do about it: without a network
// the default hub source cannot work, and the message must say so.
func (c *Client) unreachable(ctx context.Context, err error) error {
	var ue *url.Error
	if ctx.Err() != nil || !errors.As(err, &ue) {
		return err
	}
	return fmt.Errorf("cannot reach the Hugging Face hub at %s (HF_ENDPOINT): %w; "+
		"without a network, read local files with --data (CSV or parquet, a file or a folder, e.g. --data ../shared/data/iemocap), "+
		"or set HF_HUB_OFFLINE=1 to use the files of an earlier download from the cache %s",
		c.endpoint(), err, c.cacheDir())
}

// writeRef records in refs/{revision} that revision names commit, unless
// revision is the commit itself or the ref already says so.
func (c *Client) writeRef(repo, revision, commit string) error {
	if revision == commit {
		return nil
	}
	ref := filepath.Join(c.RepoFolder(repo), "refs", filepath.FromSlash(revision))
	if b, err := os.ReadFile(ref); err == nil && strings.TrimSpace(string(b)) == commit {
		return nil
	}
	if err := writeCacheFile(ref, ".ref-*", []byte(commit)); err != nil {
		return fmt.Errorf("write ref %s: %w", ref, err)
	}
	return nil
}

// fileMeta is what a HEAD on a resolve URL tells about a file.
type fileMeta struct {
	commit   string
	etag     string
	size     int64 // -1 when unknown
	location string
}

func (c *Client) head(ctx context.Context, u string) (*fileMeta, error) {
	resp, err := c.do(ctx, http.MethodHead, u, true)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && !isRedirect(resp.StatusCode) {
		return nil, statusError(resp)
	}
	m := &fileMeta{
		commit:   resp.Header.Get("X-Repo-Commit"),
		etag:     normalizeETag(resp.Header.Get("X-Linked-Etag")),
		size:     -1,
		location: resp.Request.URL.String(),
	}
	if m.etag == "" {
		m.etag = normalizeETag(resp.Header.Get("ETag"))
	}
	if s := resp.Header.Get("X-Linked-Size"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			m.size = n
		}
	} else if resp.StatusCode == http.StatusOK && resp.ContentLength >= 0 {
		m.size = resp.ContentLength
	}
	if isRedirect(resp.StatusCode) {
		loc, err := resp.Location()
		if err != nil {
			return nil, fmt.Errorf("HEAD %s: redirect without a valid Location: %w", u, err)
		}
		m.location = loc.String()
	}
	if !isCommitHash(m.commit) {
		return nil, fmt.Errorf("HEAD %s: no commit hash in X-Repo-Commit (got %q): is %s a Hugging Face hub? (check HF_ENDPOINT)",
			u, m.commit, c.endpoint())
	}
	if err := checkETag(m.etag); err != nil {
		return nil, fmt.Errorf("HEAD %s: %w", u, err)
	}
	return m, nil
}

// normalizeETag removes the weak prefix W/ and the quotes of an ETag.
func normalizeETag(e string) string {
	e = strings.TrimSpace(e)
	e = strings.TrimPrefix(e, "W/")
	return strings.Trim(e, `"`)
}

// checkETag accepts an ETag usable as a blob file name.
func checkETag(e string) error {
	if e == "" {
		return errors.New("no ETag in the answer, cannot cache the file")
	}
	if e == "." || e == ".." || strings.ContainsAny(e, "/\\\x00") || strings.HasSuffix(e, ".incomplete") {
		return fmt.Errorf("ETag %q cannot name a cache file", e)
	}
	return nil
}

// Download returns the local path of filename (slash-separated, relative to
// the repository root) of a dataset repository at revision ("" means
// "main"): its entry in the cache's snapshots/, downloaded first when it is
// not cached.
//
// Online, a HEAD request resolves the revision to a commit and records it
// in refs/; a revision that is a commit hash (as Snapshot gives) is served
// from the cache without a request when the file is there, and writes no
// ref. When the hub cannot be reached or answers with a server error (5xx), the cached file of
// the revision is used if there is one. Offline, only the cache is
// read, and a missing file is an error wrapping ErrNotCached that says how to
// get it. HTTP errors are *StatusError values.
func (c *Client) Download(ctx context.Context, repo, revision, filename string) (string, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := checkRepo(repo); err != nil {
		return "", err
	}
	if err := checkRepoPath("revision", revision); err != nil {
		return "", err
	}
	if err := checkRepoPath("file name", filename); err != nil {
		return "", err
	}
	if isCommitHash(revision) {
		if p, err := c.cachedPath(repo, revision, filename); err == nil {
			return p, nil
		}
	}
	if c.Offline {
		p, err := c.cachedPath(repo, revision, filename)
		if err != nil {
			return "", c.offlineError(repo, revision, filename, err)
		}
		return p, nil
	}

	u := c.ResolveURL(repo, revision, filename)
	meta, err := c.head(ctx, u)
	if err != nil {
		if canUseCache(ctx, err) {
			if p, cerr := c.cachedPath(repo, revision, filename); cerr == nil {
				return p, nil
			}
		}
		return "", c.unreachable(ctx, fmt.Errorf("download %s of dataset %s: %w", filename, repo, err))
	}
	if err := c.writeRef(repo, revision, meta.commit); err != nil {
		return "", err
	}
	pointer := c.snapshotPath(repo, meta.commit, filename)
	if _, err := os.Stat(pointer); err == nil {
		return pointer, nil
	}
	blob := filepath.Join(c.RepoFolder(repo), "blobs", meta.etag)
	if _, err := os.Stat(blob); err != nil {
		if err := c.fetch(ctx, meta, blob); err != nil {
			return "", fmt.Errorf("download %s of dataset %s: %w", filename, repo, err)
		}
	}
	if err := link(blob, pointer); err != nil {
		return "", fmt.Errorf("download %s of dataset %s: %w", filename, repo, err)
	}
	return pointer, nil
}

// fetch streams meta.location into blob through a temporary file in the
// same directory, and renames it into place only when the whole content
// arrived and matches the ETag.
func (c *Client) fetch(ctx context.Context, meta *fileMeta, blob string) (err error) {
	resp, err := c.do(ctx, http.MethodGet, meta.location, false)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	u := resp.Request.URL.String()
	want := resp.ContentLength
	if meta.size >= 0 {
		if want >= 0 && want != meta.size {
			return fmt.Errorf("GET %s: Content-Length %d differs from the size %d the hub announced", u, want, meta.size)
		}
		want = meta.size
	}

	dir := filepath.Dir(blob)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cache folder: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(blob)+".*.incomplete")
	if err != nil {
		return fmt.Errorf("create cache file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := hasherFor(meta.etag, want)
	var w io.Writer = tmp
	if h != nil {
		w = io.MultiWriter(tmp, h)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		if want >= 0 {
			return fmt.Errorf("GET %s: connection lost after %d of %d bytes: %w", u, n, want, err)
		}
		return fmt.Errorf("GET %s: connection lost after %d bytes: %w", u, n, err)
	}
	if want >= 0 && n != want {
		return fmt.Errorf("GET %s: got %d bytes, want %d", u, n, want)
	}
	if h != nil {
		if got := hex.EncodeToString(h.Sum(nil)); got != meta.etag {
			return fmt.Errorf("GET %s: content hash %s does not match the ETag %s", u, got, meta.etag)
		}
	}
	if err := tmp.Chmod(cacheFileMode); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), blob); err != nil {
		return fmt.Errorf("move download into the cache: %w", err)
	}
	return nil
}

// hasherFor returns the hash whose hex digest the hub uses as ETag: sha256
// for LFS files (64 hex digits), the git blob id for files stored in git (40
// hex digits: sha1 of "blob <size>\x00" and the content, which needs the
// size up front). It returns nil when the ETag has another form or the size
// of a git blob is unknown; such downloads are checked by size only.
func hasherFor(etag string, size int64) hash.Hash {
	if !isHex(etag) {
		return nil
	}
	switch {
	case len(etag) == 64:
		return sha256.New()
	case len(etag) == 40 && size >= 0:
		h := sha1.New()
		fmt.Fprintf(h, "blob %d\x00", size)
		return h
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// link makes pointer a relative symbolic link to blob, or a copy of it
// where links cannot be made.
func link(blob, pointer string) error {
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return fmt.Errorf("create snapshot folder: %w", err)
	}
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		rel = blob
	}
	// The link is made beside the entry and renamed over it, so that a
	// reader of the cache sees the old entry or the new, never none.
	tmp := fmt.Sprintf("%s.%d-%d.incomplete", pointer, os.Getpid(), time.Now().UnixNano())
	if err := os.Symlink(rel, tmp); err == nil {
		if err := os.Rename(tmp, pointer); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("replace snapshot entry: %w", err)
		}
		return nil
	}
	return copyFile(blob, pointer)
}

// cacheFileMode is the mode of every file the cache writes: readable by all,
// as huggingface_hub leaves its files under the usual umask, so that a
// cache shared between users or containers is readable by each
// (os.CreateTemp alone gives 0600).
const cacheFileMode = 0o644

func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy blob into snapshot: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+path.Base(filepath.ToSlash(dst))+".*.incomplete")
	if err != nil {
		return fmt.Errorf("copy blob into snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, in); err != nil {
		return fmt.Errorf("copy blob into snapshot: %w", err)
	}
	if err = tmp.Chmod(cacheFileMode); err != nil {
		return fmt.Errorf("copy blob into snapshot: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("copy blob into snapshot: %w", err)
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("copy blob into snapshot: %w", err)
	}
	return nil
}
