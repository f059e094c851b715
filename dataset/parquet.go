package dataset

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/emotionlab/emotion/dataset/hub"
)

// DefaultClassNames are the ClassLabel names of Zahra99/IEMOCAP_Text's label
// column, used when a parquet file does not name its classes.
var DefaultClassNames = []string{"ang", "hap", "neu", "sad"}

// classOfName maps the class names that IEMOCAP sources use to the four
// classes (excited is merged into happy, as is customary).
var classOfName = map[string]Label{
	"ang": Angry, "angry": Angry, "anger": Angry,
	"hap": Happy, "happy": Happy, "happiness": Happy, "exc": Happy, "excited": Happy,
	"neu": Neutral, "neutral": Neutral,
	"sad": Sad, "sadness": Sad,
}

// ClassOfName returns the class that a source's label name stands for
// (ang/angry → Angry; hap/happy/exc → Happy; neu/neutral → Neutral; sad →
// Sad; any case), and false for names outside the four classes (fru, xxx,
// sur, …).
func ClassOfName(name string) (Label, bool) {
	l, ok := classOfName[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return NoLabel, false
	}
	return l, true
}

// ReadParquet reads one parquet file with columns text (string) and label
// (int64, a ClassLabel 0=ang 1=hap 2=neu 3=sad as named in the file's
// `huggingface` schema metadata), as in Zahra99/IEMOCAP_Text. It returns
// one utterance per row, with Session set to session, Turn the row index,
// Label mapped through the ClassLabel names (ang/angry → Angry,
// hap/happy/exc → Happy, neu/neutral → Neutral, sad → Sad), RawLabel the
// name, and Text as stored.
//
// When the `huggingface` metadata is absent, or gives no ClassLabel names
// for label, labels 0..3 are taken as ang, hap, neu, sad (DefaultClassNames).
//
// Any compression and encoding that parquet-go reads is accepted (snappy,
// zstd, gzip, dictionary-encoded columns, …); label may also be int32. The
// errors name the file, and the row where one is at fault: not a parquet
// file or truncated, a missing text or label column or one of another
// type, a null, a label outside the ClassLabel names or not one of the four
// classes, or a text that is empty after trimming spaces.
func ReadParquet(path string, session int) (utts []Utterance, err error) {
	defer func() {
		// parquet-go may panic on malformed input; nothing of it may cross
		// this package's boundary.
		if r := recover(); r != nil {
			utts, err = nil, fmt.Errorf("read %s: malformed parquet file (reader panicked: %v)", path, r)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read parquet: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read parquet: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("read parquet %s: is a directory", path)
	}
	if err := checkParquetFrame(f, st.Size()); err != nil {
		return nil, fmt.Errorf("read %s: not a readable parquet file (not parquet, or truncated): %w", path, err)
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("read %s: not a readable parquet file (not parquet, or truncated): %w", path, err)
	}
	if err := checkColumnChunks(pf, st.Size()); err != nil {
		return nil, fmt.Errorf("read %s: malformed parquet file: %w", path, err)
	}
	if err := checkPages(f, pf); err != nil {
		return nil, fmt.Errorf("read %s: malformed parquet file: %w", path, err)
	}
	utts, err = readParquetFile(pf, session)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return utts, nil
}

// checkParquetFrame checks the magic numbers and the footer length of a
// parquet file of the given size before parquet-go reads it: parquet-go
// allocates whatever footer length the file claims (up to 4 GiB).
func checkParquetFrame(r io.ReaderAt, size int64) error {
	const magic = "PAR1"
	if size < 12 {
		return fmt.Errorf("%d bytes, too short", size)
	}
	var head [4]byte
	var tail [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return err
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if string(head[:]) != magic || string(tail[4:]) != magic {
		return errors.New("no PAR1 magic number at its start and end")
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return fmt.Errorf("footer of %d bytes in a file of %d", n, size)
	}
	return nil
}

// chunkStart is the offset of a column chunk's first page: its dictionary
// page where it has one, else its first data page.
func chunkStart(md *format.ColumnMetaData) int64 {
	if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < md.DataPageOffset {
		return md.DictionaryPageOffset
	}
	return md.DataPageOffset
}

// checkColumnChunks checks that the column chunks the footer describes lie
// within the file, so that no size read from it makes parquet-go allocate
// more than the file holds, that a column without repetition has no more
// values than rows, and that their codecs are ones parquet-go decodes
// safely.
func checkColumnChunks(pf *parquet.File, size int64) error {
	for i, rg := range pf.Metadata().RowGroups {
		for _, cc := range rg.Columns {
			md := cc.MetaData
			start := chunkStart(&md)
			// A column that is not repeated has one value (or null) a row;
			// a repeated one, nested in a list or not, may have more.
			repeated := false
			if leaf, ok := pf.Schema().Lookup(md.PathInSchema...); ok {
				repeated = leaf.MaxRepetitionLevel > 0
			}
			if start < 4 || md.TotalCompressedSize < 0 || md.TotalCompressedSize > size || start+md.TotalCompressedSize > size ||
				md.NumValues < 0 || md.NumValues > rg.NumRows && !repeated {
				return fmt.Errorf("row group %d: column %s: chunk of %d bytes at %d, %d values, outside a file of %d bytes and %d rows",
					i, strings.Join(md.PathInSchema, "."), md.TotalCompressedSize, start, md.NumValues, size, rg.NumRows)
			}
			switch md.Codec {
			case format.Uncompressed, format.Snappy, format.Gzip, format.Zstd, format.Brotli:
			default:
				// parquet-go's LZ4 decoder doubles its buffer on every
				// error, without bound: one corrupt page exhausts memory
				// (a fatal error, not a panic) instead of failing.
				return fmt.Errorf("row group %d: column %s: compression %s is not supported (snappy, gzip, zstd, brotli or none)",
					i, strings.Join(md.PathInSchema, "."), md.Codec)
			}
		}
	}
	return nil
}

// parquetColumn finds a top-level leaf column and checks its type.
func parquetColumn(pf *parquet.File, name string, kinds ...parquet.Kind) (int, error) {
	leaf, ok := pf.Schema().Lookup(name)
	if !ok || len(leaf.Path) != 1 {
		var have []string
		for _, p := range pf.Schema().Columns() {
			have = append(have, strings.Join(p, "."))
		}
		return 0, fmt.Errorf("no %q column (columns: %s)", name, strings.Join(have, ", "))
	}
	if leaf.Node.Repeated() || leaf.MaxRepetitionLevel > 0 {
		return 0, fmt.Errorf("column %q is repeated, want one value per row", name)
	}
	t := leaf.Node.Type()
	var want []string
	for _, k := range kinds {
		if t.Kind() == k {
			return leaf.ColumnIndex, nil
		}
		want = append(want, k.String())
	}
	return 0, fmt.Errorf("column %q has type %s, want %s", name, t.Kind(), strings.Join(want, " or "))
}

func readParquetFile(pf *parquet.File, session int) ([]Utterance, error) {
	textCol, err := parquetColumn(pf, "text", parquet.ByteArray)
	if err != nil {
		return nil, err
	}
	if leaf, _ := pf.Schema().Lookup("text"); leaf.Node != nil {
		// Plain BYTE_ARRAY is taken as text too (old writers); any other
		// annotation (JSON, BSON, …) is not.
		if l := leaf.Node.Type().LogicalType(); l != nil && l.Value != nil {
			if _, ok := l.Value.(*format.StringType); !ok {
				return nil, fmt.Errorf("column \"text\" has logical type %s, want STRING", l)
			}
		}
	}
	labelCol, err := parquetColumn(pf, "label", parquet.Int64, parquet.Int32)
	if err != nil {
		return nil, err
	}
	names, err := classLabelNames(pf)
	if err != nil {
		return nil, err
	}

	utts := make([]Utterance, 0, min(max(pf.NumRows(), 0), 1<<14)) // the footer's count is not trusted
	buf := make([]parquet.Row, 128)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, rerr := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				u, err := utteranceOfRow(row, textCol, labelCol, names)
				if err != nil {
					rows.Close()
					return nil, fmt.Errorf("row %d: %w", len(utts), err)
				}
				u.Session, u.Turn = session, len(utts)
				utts = append(utts, u)
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				rows.Close()
				return nil, fmt.Errorf("row %d: malformed column data: %w", len(utts), rerr)
			}
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	if int64(len(utts)) != pf.NumRows() {
		return nil, fmt.Errorf("read %d rows, the footer says %d", len(utts), pf.NumRows())
	}
	return utts, nil
}

func utteranceOfRow(row parquet.Row, textCol, labelCol int, names []string) (Utterance, error) {
	var text, label parquet.Value
	var haveText, haveLabel bool
	for _, v := range row {
		switch v.Column() {
		case textCol:
			text, haveText = v, true
		case labelCol:
			label, haveLabel = v, true
		}
	}
	if !haveText || text.IsNull() {
		return Utterance{}, errors.New("text is null")
	}
	if !haveLabel || label.IsNull() {
		return Utterance{}, errors.New("label is null")
	}
	t := string(text.ByteArray())
	if strings.TrimSpace(t) == "" {
		return Utterance{}, errors.New("text is empty")
	}
	if err := validText(t); err != nil {
		return Utterance{}, err
	}
	var id int64
	if label.Kind() == parquet.Int32 {
		id = int64(label.Int32())
	} else {
		id = label.Int64()
	}
	if id < 0 || id >= int64(len(names)) {
		return Utterance{}, fmt.Errorf("label %d is outside the ClassLabel names %v", id, names)
	}
	name := names[id]
	l, ok := ClassOfName(name)
	if !ok {
		return Utterance{}, fmt.Errorf("label %d (%s) is not one of the 4 classes angry, happy, neutral, sad", id, name)
	}
	return Utterance{Text: t, Label: l, RawLabel: name}, nil
}

// classLabelNames returns the names of the label column's ClassLabel from
// the `huggingface` metadata that the datasets library writes:
//
//	{"info": {"features": {"text": {"dtype": "string", "_type": "Value"},
//	  "label": {"names": ["ang", "hap", "neu", "sad"], "_type": "ClassLabel"}}}}
//
// or DefaultClassNames when there is none.
func classLabelNames(pf *parquet.File) ([]string, error) {
	raw, ok := pf.Lookup("huggingface")
	if !ok {
		return DefaultClassNames, nil
	}
	var meta struct {
		Info struct {
			Features map[string]struct {
				Type  string   `json:"_type"`
				Names []string `json:"names"`
			} `json:"features"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(raw), &meta); err != nil {
		return nil, fmt.Errorf("invalid huggingface metadata: %w", err)
	}
	feat, ok := meta.Info.Features["label"]
	if !ok || feat.Type != "ClassLabel" || len(feat.Names) == 0 {
		return DefaultClassNames, nil
	}
	return feat.Names, nil
}

// sessionPattern matches a path component that names an IEMOCAP session:
// "session3-00000-of-00001.parquet", "session3", "Session_3.parquet".
var sessionPattern = regexp.MustCompile(`(?i)^session[_-]?0*(\d+)(?:[^0-9]|$)`)

// sessionOfPath returns the session that a parquet file's path names: its
// file name (session3-…) or else the nearest folder (…/session3/…).
func sessionOfPath(p string) (int, error) {
	parts := strings.Split(filepath.ToSlash(p), "/")
	for i := len(parts) - 1; i >= 0; i-- {
		m := sessionPattern.FindStringSubmatch(parts[i])
		if m == nil {
			continue
		}
		s, err := strconv.Atoi(m[1])
		if err != nil || s < 1 || s > 5 {
			return 0, fmt.Errorf("%s: session %s is not an IEMOCAP session (1-5)", p, m[1])
		}
		return s, nil
	}
	return 0, fmt.Errorf("%s: cannot tell the session from the path: name the file session<N>-….parquet or put it in a folder session<N>", p)
}

// parquetSource is a parquet file to load and the session it holds.
type parquetSource struct {
	path    string // local file
	session int
}

// LoadParquet loads parquet files in the Zahra99/IEMOCAP_Text layout (see
// ReadParquet): each path is a file or a folder, searched with its
// subfolders for *.parquet files (as ../shared/data/zahra99, which holds
// data/session{1..5}-00000-of-00001.parquet). The session of each file comes
// from its name (session3-…) or else from its nearest folder named so
// (…/session3/…); a file whose session cannot be found is an error.
//
// The corpus lists the utterances by session, then by file path, in row
// order; Turn counts the rows of a session across its files. The source
// has no utterance IDs, so the corpus has HasSpeakers and HasDialogs false
// and one warning saying so.
func LoadParquet(paths []string) (*Corpus, error) {
	if len(paths) == 0 {
		return nil, errors.New("load parquet: no path given")
	}
	var srcs []parquetSource
	seen := map[string]bool{}
	for _, p := range paths {
		files, err := parquetFiles(p)
		if err != nil {
			return nil, fmt.Errorf("load parquet: %w", err)
		}
		for _, f := range files {
			key := f
			if abs, err := filepath.Abs(f); err == nil {
				key = abs
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			s, err := sessionOfPath(f)
			if err != nil {
				return nil, fmt.Errorf("load parquet: %w", err)
			}
			srcs = append(srcs, parquetSource{path: f, session: s})
		}
	}
	return loadParquetSources("parquet "+strings.Join(paths, ", "), srcs)
}

// parquetFiles returns p when it is a file, or the *.parquet files under
// the folder p, in lexical order.
func parquetFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	files, err := findParquet(p, map[string]bool{})
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", p, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .csv files in the folder, nor .parquet files in it or its subfolders", p)
	}
	sort.Strings(files)
	return files, nil
}

// findParquet returns the *.parquet files under dir, following symbolic
// links to files and folders (data is linked in, not copied); visited
// holds the resolved folders already walked, so that a link cycle ends.
func findParquet(dir string, visited map[string]bool) ([]string, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	if visited[real] {
		return nil, nil
	}
	visited[real] = true
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		mode, err := followedType(path, e)
		if err != nil {
			return nil, err
		}
		switch {
		case mode.IsDir():
			sub, err := findParquet(path, visited)
			if err != nil {
				return nil, err
			}
			files = append(files, sub...)
		case mode.IsRegular() && strings.EqualFold(filepath.Ext(path), ".parquet"):
			files = append(files, path)
		}
	}
	return files, nil
}

func loadParquetSources(source string, srcs []parquetSource) (*Corpus, error) {
	sort.SliceStable(srcs, func(i, j int) bool {
		if srcs[i].session != srcs[j].session {
			return srcs[i].session < srcs[j].session
		}
		return srcs[i].path < srcs[j].path
	})
	c := &Corpus{
		Source: source,
		Warnings: []string{source + " has no utterance IDs: speaker features are zero, and dialog windows " +
			"follow row order within a session (an approximation of the conversations)"},
	}
	turns := map[int]int{}
	for _, s := range srcs {
		utts, err := ReadParquet(s.path, s.session)
		if err != nil {
			return nil, err
		}
		for i := range utts {
			utts[i].Turn += turns[s.session]
		}
		turns[s.session] += len(utts)
		c.Utterances = append(c.Utterances, utts...)
	}
	return c, nil
}

// isSessionParquet reports whether a repository file holds a session of the
// Zahra99/IEMOCAP_Text layout: data/session*-*.parquet, session*/….parquet,
// or any .parquet file whose name or folder names a session.
func isSessionParquet(name string) bool {
	if !strings.EqualFold(path.Ext(name), ".parquet") {
		return false
	}
	_, err := sessionOfPath(name)
	return err == nil
}

// LoadHub downloads the session parquet files of a dataset repository on
// the Hugging Face hub (revision "" means main) with c, and loads them as
// LoadParquet does. It finds them by listing the repository: files
// data/session*-*.parquet or session*/….parquet (any .parquet file whose
// name or folder names a session). Every file is downloaded at the commit
// the listing resolved the revision to, so that all come from one commit
// even when the branch moves meanwhile. Files already in c's cache are not
// downloaded again, and offline (c.Offline) the cache alone is used; a file
// of the listing missing from the cache is then an error, not a session
// left out.
func LoadHub(ctx context.Context, c *hub.Client, repo, revision string) (*Corpus, error) {
	commit, files, err := c.Snapshot(ctx, repo, revision)
	if err != nil {
		return nil, fmt.Errorf("load %s from the hub: %w", repo, err)
	}
	var srcs []parquetSource
	for _, name := range files {
		if !isSessionParquet(name) {
			continue
		}
		s, err := sessionOfPath(name)
		if err != nil {
			return nil, fmt.Errorf("load %s from the hub: %w", repo, err)
		}
		local, err := c.Download(ctx, repo, commit, name)
		if err != nil {
			return nil, fmt.Errorf("load %s from the hub: %w", repo, err)
		}
		srcs = append(srcs, parquetSource{path: local, session: s})
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("load %s from the hub: no session parquet files (data/session<N>-….parquet or session<N>/….parquet) among its %d files",
			repo, len(files))
	}
	source := "hf://datasets/" + repo
	if revision != "" {
		source += "@" + revision
	}
	return loadParquetSources(source, srcs)
}
