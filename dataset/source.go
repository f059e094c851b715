package dataset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/emotionlab/emotion/dataset/hub"
)

// DefaultData is the default --data source: the Hugging Face dataset
// Zahra99/IEMOCAP_Text (4 classes, one split per session, no utterance IDs).
const DefaultData = "hf:Zahra99/IEMOCAP_Text"

// DefaultRevision is the hub revision used when an hf: source names none.
const DefaultRevision = "main"

// SourceKind is the kind of a --data source.
type SourceKind int

// The kinds of source.
const (
	SourceHub     SourceKind = iota // hf:owner/name[@revision]
	SourceParquet                   // parquet files or folders of them
	SourceCSV                       // transcript CSVs with utterance IDs, or folders of them
)

// String names the kind for messages.
func (k SourceKind) String() string {
	switch k {
	case SourceHub:
		return "hub"
	case SourceParquet:
		return "parquet"
	case SourceCSV:
		return "CSV"
	}
	return fmt.Sprintf("SourceKind(%d)", int(k))
}

// Source is a parsed --data string.
type Source struct {
	Kind     SourceKind
	Repo     string   // hub: owner/name
	Revision string   // hub: branch, tag or commit (DefaultRevision when not given)
	Paths    []string // parquet and CSV: the files and folders, in the given order
}

// ParseSource interprets a --data string ("" means DefaultData):
//
//   - hf:owner/name or hf:owner/name@revision: a Hugging Face dataset in the
//     Zahra99/IEMOCAP_Text layout;
//   - a path, or comma-separated paths, of .parquet files or of folders that
//     hold them (session*.parquet, also in sub-folders such as data/);
//   - a path, or comma-separated paths, of .csv transcripts with utterance
//     IDs or of folders whose *.csv files are all read.
//
// Local paths must exist; a folder counts as CSV when it directly holds
// .csv files, as parquet otherwise. Mixing CSV and parquet is an error.
func ParseSource(data string) (Source, error) {
	data = strings.TrimSpace(data)
	if data == "" {
		data = DefaultData
	}
	if rest, ok := strings.CutPrefix(data, "hf:"); ok {
		repo, rev, hasRev := strings.Cut(rest, "@")
		repo, rev = strings.TrimSpace(repo), strings.TrimSpace(rev)
		if hasRev && rev == "" {
			return Source{}, fmt.Errorf("data %q: empty revision after @", data)
		}
		if rev == "" {
			rev = DefaultRevision
		}
		owner, name, ok := strings.Cut(repo, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return Source{}, fmt.Errorf("data %q: want hf:owner/name or hf:owner/name@revision", data)
		}
		return Source{Kind: SourceHub, Repo: repo, Revision: rev}, nil
	}
	var paths []string
	for p := range strings.SplitSeq(data, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return Source{}, fmt.Errorf("data %q: no path", data)
	}
	kind := SourceKind(-1)
	for _, p := range paths {
		k, err := pathKind(p)
		if err != nil {
			return Source{}, fmt.Errorf("data %s: %w", p, err)
		}
		if kind >= 0 && k != kind {
			return Source{}, fmt.Errorf("data %q: mixes %v and %v sources", data, kind, k)
		}
		kind = k
	}
	return Source{Kind: kind, Paths: paths}, nil
}

// AbsData returns the --data string data with each local path made
// absolute, so that a run's record names its data from anywhere; a hub
// source, and a path that cannot be made absolute, stay as they are.
func AbsData(data string) string {
	if strings.HasPrefix(strings.TrimSpace(data), "hf:") || strings.TrimSpace(data) == "" {
		return data
	}
	var parts []string
	for p := range strings.SplitSeq(data, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ",")
}

// pathKind tells whether a local path is a CSV or a parquet source.
func pathKind(p string) (SourceKind, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		// owner/name, as a hub dataset is named, is most likely one.
		if parts := strings.Split(p, "/"); len(parts) == 2 && parts[0] != "" && parts[0] != "." && parts[0] != ".." &&
			parts[1] != "" && filepath.Ext(p) == "" {
			return 0, fmt.Errorf("no such file or folder (a hub dataset is written hf:%s)", p)
		}
		return 0, fmt.Errorf("no such file or folder")
	}
	if err != nil {
		return 0, err
	}
	if fi.IsDir() {
		csvs, err := csvFiles(p)
		if err != nil {
			return 0, err
		}
		if len(csvs) > 0 {
			return SourceCSV, nil
		}
		return SourceParquet, nil
	}
	switch strings.ToLower(filepath.Ext(p)) {
	case ".csv":
		return SourceCSV, nil
	case ".parquet":
		return SourceParquet, nil
	}
	return 0, fmt.Errorf("not a .csv or .parquet file")
}

// Load loads the corpus a --data string names (see ParseSource). A hub
// source reads its settings from the environment (HF_ENDPOINT, HF_TOKEN,
// HF_HOME, HF_HUB_OFFLINE) and uses ctx for its downloads.
func Load(ctx context.Context, data string) (*Corpus, error) {
	src, err := ParseSource(data)
	if err != nil {
		return nil, err
	}
	switch src.Kind {
	case SourceHub:
		return LoadHub(ctx, hub.NewClientFromEnv(), src.Repo, src.Revision)
	case SourceParquet:
		return LoadParquet(src.Paths)
	default:
		return LoadCSV(src.Paths)
	}
}
