package dataset

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
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

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/emotionlab/emotion/dataset/hub"
)

// hfMeta is the `huggingface` schema metadata of Zahra99/IEMOCAP_Text.
const hfMeta = `{"info": {"features": {"text": {"dtype": "string", "_type": "Value"}, "label": {"names": ["ang", "hap", "neu", "sad"], "_type": "ClassLabel"}}}}`

// hfRow is a row of the Zahra99/IEMOCAP_Text layout, its text column
// dictionary-encoded.
type hfRow struct {
	Text  string `parquet:"text,dict"`
	Label int64  `parquet:"label"`
}

// arrowRow has the optional columns that Arrow writers produce.
type arrowRow struct {
	Text  *string `parquet:"text,optional"`
	Label *int64  `parquet:"label,optional"`
}

var fixtureRows = []hfRow{
	{"I'm so angry right now!", 0},
	{"That's wonderful news.", 1},
	{"Okay.", 2},
	{"I miss her.", 3},
	{"Okay.", 2}, // repeated: the dictionary has fewer entries than rows
	{"Get out!", 0},
	{"We did it!", 1},
}

// writeParquet writes rows to dir/name with the given options and returns
// its path.
func writeParquet[T any](t testing.TB, dir, name string, rows []T, opts ...parquet.WriterOption) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// hfOptions are the writer options of a hub-like file with codec c.
func hfOptions(c compress.Codec, extra ...parquet.WriterOption) []parquet.WriterOption {
	return append([]parquet.WriterOption{parquet.Compression(c), parquet.KeyValueMetadata("huggingface", hfMeta)}, extra...)
}

func wantUtterances(rows []hfRow, session int) []Utterance {
	names := []string{"ang", "hap", "neu", "sad"}
	var us []Utterance
	for i, r := range rows {
		us = append(us, Utterance{Session: session, Turn: i, Text: r.Text, Label: Label(r.Label), RawLabel: names[r.Label]})
	}
	return us
}

func TestReadParquetCodecs(t *testing.T) {
	tests := []struct {
		name  string
		codec compress.Codec
		want  format.CompressionCodec
	}{
		{"snappy", &parquet.Snappy, format.Snappy},
		{"zstd", &parquet.Zstd, format.Zstd},
		{"gzip", &parquet.Gzip, format.Gzip},
		{"uncompressed", &parquet.Uncompressed, format.Uncompressed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Three rows per row group: several groups, and pages per group.
			p := writeParquet(t, t.TempDir(), "session2-00000-of-00001.parquet", fixtureRows,
				hfOptions(tt.codec, parquet.MaxRowsPerRowGroup(3))...)
			checkFixtureFile(t, p, tt.want)
			got, err := ReadParquet(p, 2)
			if err != nil {
				t.Fatal(err)
			}
			if want := wantUtterances(fixtureRows, 2); !reflect.DeepEqual(got, want) {
				t.Errorf("ReadParquet\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// checkFixtureFile checks that the fixture really has the codec, a
// dictionary-encoded text column, and the metadata, so that the test
// exercises what it claims to.
func checkFixtureFile(t *testing.T, p string, codec format.CompressionCodec) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	md := pf.Metadata()
	if len(md.RowGroups) < 2 {
		t.Errorf("fixture has %d row groups, want several", len(md.RowGroups))
	}
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			if cc.MetaData.Codec != codec {
				t.Errorf("column %v has codec %v, want %v", cc.MetaData.PathInSchema, cc.MetaData.Codec, codec)
			}
		}
		text := rg.Columns[0].MetaData
		dict := false
		for _, e := range text.Encoding {
			dict = dict || e == format.RLEDictionary || e == format.PlainDictionary
		}
		if !dict || text.DictionaryPageOffset == 0 {
			t.Errorf("text column encodings %v, dictionary page at %d: not dictionary-encoded", text.Encoding, text.DictionaryPageOffset)
		}
	}
	if v, ok := pf.Lookup("huggingface"); !ok || v != hfMeta {
		t.Errorf("huggingface metadata = %q, %v", v, ok)
	}
}

func TestReadParquetLabels(t *testing.T) {
	rows := []hfRow{{"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}}
	meta := func(names string) parquet.WriterOption {
		return parquet.KeyValueMetadata("huggingface",
			`{"info": {"features": {"text": {"dtype": "string", "_type": "Value"}, "label": {"names": `+names+`, "_type": "ClassLabel"}}}}`)
	}
	tests := []struct {
		name   string
		opts   []parquet.WriterOption
		labels []Label
		raw    []string
	}{
		{"no metadata: ang hap neu sad", nil, []Label{Angry, Happy, Neutral, Sad}, []string{"ang", "hap", "neu", "sad"}},
		{"other order, long names", []parquet.WriterOption{meta(`["sad", "neutral", "Angry", "happy"]`)},
			[]Label{Sad, Neutral, Angry, Happy}, []string{"sad", "neutral", "Angry", "happy"}},
		{"excited is happy", []parquet.WriterOption{meta(`["exc", "ang", "neu", "sad"]`)},
			[]Label{Happy, Angry, Neutral, Sad}, []string{"exc", "ang", "neu", "sad"}},
		{"label not a ClassLabel", []parquet.WriterOption{parquet.KeyValueMetadata("huggingface", `{"info": {"features": {"label": {"dtype": "int64", "_type": "Value"}}}}`)},
			[]Label{Angry, Happy, Neutral, Sad}, []string{"ang", "hap", "neu", "sad"}},
		// Only a ClassLabel's names name the labels: names of another
		// feature type are not used, nor is a ClassLabel without names.
		{"names of a feature not a ClassLabel", []parquet.WriterOption{parquet.KeyValueMetadata("huggingface",
			`{"info": {"features": {"label": {"names": ["sad", "neu", "hap", "ang"], "_type": "Sequence"}}}}`)},
			[]Label{Angry, Happy, Neutral, Sad}, []string{"ang", "hap", "neu", "sad"}},
		{"ClassLabel without names", []parquet.WriterOption{parquet.KeyValueMetadata("huggingface",
			`{"info": {"features": {"label": {"num_classes": 4, "_type": "ClassLabel"}}}}`)},
			[]Label{Angry, Happy, Neutral, Sad}, []string{"ang", "hap", "neu", "sad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeParquet(t, t.TempDir(), "x.parquet", rows, tt.opts...)
			got, err := ReadParquet(p, 1)
			if err != nil {
				t.Fatal(err)
			}
			for i, u := range got {
				if u.Label != tt.labels[i] || u.RawLabel != tt.raw[i] {
					t.Errorf("row %d: label %v (%q), want %v (%q)", i, u.Label, u.RawLabel, tt.labels[i], tt.raw[i])
				}
			}
		})
	}
}

// TestReadParquetExtraRepeatedColumn: a column other than text and label
// is ignored, whatever its layout: a repeated one with more values than
// rows too, not only one nested in a list.
func TestReadParquetExtraRepeatedColumn(t *testing.T) {
	type withTags struct {
		Text  string   `parquet:"text"`
		Label int64    `parquet:"label"`
		Tags  []string `parquet:"tags"`
	}
	type withTagList struct {
		Text  string   `parquet:"text"`
		Label int64    `parquet:"label"`
		Tags  []string `parquet:"tags,list"`
	}
	dir := t.TempDir()
	want := []Utterance{{Session: 2, Turn: 0, Text: "hi", Label: Sad, RawLabel: "sad"}, {Session: 2, Turn: 1, Text: "yo", Label: Happy, RawLabel: "hap"}}
	for _, p := range []string{
		writeParquet(t, dir, "repeated.parquet", []withTags{{"hi", 3, []string{"a", "b", "c"}}, {"yo", 1, nil}}),
		writeParquet(t, dir, "list.parquet", []withTagList{{"hi", 3, []string{"a", "b", "c"}}, {"yo", 1, nil}}),
	} {
		got, err := ReadParquet(p, 2)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", filepath.Base(p), got, want)
		}
	}
}

func TestReadParquetArrowLayout(t *testing.T) {
	// Optional columns and an int32 label, as other writers produce.
	s := func(v string) *string { return &v }
	n := func(v int64) *int64 { return &v }
	p := writeParquet(t, t.TempDir(), "x.parquet", []arrowRow{{s("hi"), n(3)}, {s("yo"), n(1)}}, hfOptions(&parquet.Snappy)...)
	got, err := ReadParquet(p, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []Utterance{{Session: 4, Turn: 0, Text: "hi", Label: Sad, RawLabel: "sad"}, {Session: 4, Turn: 1, Text: "yo", Label: Happy, RawLabel: "hap"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	type int32Row struct {
		Text  string `parquet:"text"`
		Label int32  `parquet:"label"`
	}
	p = writeParquet(t, t.TempDir(), "y.parquet", []int32Row{{"x", 2}})
	if got, err := ReadParquet(p, 1); err != nil || len(got) != 1 || got[0].Label != Neutral {
		t.Errorf("int32 label: %+v, %v", got, err)
	}
}

func TestReadParquetErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeParquet(t, dir, "good.parquet", fixtureRows, hfOptions(&parquet.Snappy)...)
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(dir, "half.parquet")
	os.WriteFile(half, b[:len(b)/2], 0o644)
	notParquet := filepath.Join(dir, "text.parquet")
	os.WriteFile(notParquet, []byte("text,label\nhello,0\n"), 0o644)
	empty := filepath.Join(dir, "empty.parquet")
	os.WriteFile(empty, nil, 0o644)
	// The footer is intact but the column data is garbage.
	corrupt := append([]byte(nil), b...)
	for i := 4; i < len(corrupt)/3; i++ {
		corrupt[i] ^= 0x5a
	}
	corruptPath := filepath.Join(dir, "corrupt.parquet")
	os.WriteFile(corruptPath, corrupt, 0o644)

	type textOnly struct {
		Text string `parquet:"text"`
	}
	type labelOnly struct {
		Label int64 `parquet:"label"`
	}
	type intText struct {
		Text  int64 `parquet:"text"`
		Label int64 `parquet:"label"`
	}
	type stringLabel struct {
		Text  string `parquet:"text"`
		Label string `parquet:"label"`
	}
	type floatLabel struct {
		Text  string  `parquet:"text"`
		Label float64 `parquet:"label"`
	}
	type listText struct {
		Text  []string `parquet:"text,list"`
		Label int64    `parquet:"label"`
	}
	type repeatedText struct {
		Text  []string `parquet:"text"`
		Label int64    `parquet:"label"`
	}
	type repeatedLabel struct {
		Text  string  `parquet:"text"`
		Label []int64 `parquet:"label"`
	}
	type jsonText struct {
		Text  string `parquet:"text,json"`
		Label int64  `parquet:"label"`
	}
	s := func(v string) *string { return &v }
	n := func(v int64) *int64 { return &v }
	badMeta := parquet.KeyValueMetadata("huggingface", "{not json")
	fruMeta := parquet.KeyValueMetadata("huggingface", `{"info": {"features": {"label": {"names": ["ang", "hap", "neu", "sad", "fru"], "_type": "ClassLabel"}}}}`)

	tests := []struct {
		name string
		path string
		says []string
	}{
		{"missing file", filepath.Join(dir, "nope.parquet"), []string{"nope.parquet", "no such file"}},
		{"directory", dir, []string{dir, "directory"}},
		{"not parquet", notParquet, []string{"text.parquet", "not a readable parquet file"}},
		{"empty file", empty, []string{"empty.parquet", "not a readable parquet file"}},
		{"truncated", half, []string{"half.parquet", "not a readable parquet file"}},
		{"corrupt pages", corruptPath, []string{"corrupt.parquet"}},
		{"no text column", writeParquet(t, dir, "a.parquet", []labelOnly{{1}}), []string{"a.parquet", `no "text" column`, "label"}},
		{"no label column", writeParquet(t, dir, "b.parquet", []textOnly{{"x"}}), []string{"b.parquet", `no "label" column`}},
		{"text not a string", writeParquet(t, dir, "c.parquet", []intText{{1, 1}}), []string{"c.parquet", `column "text" has type INT64`}},
		{"text is JSON", writeParquet(t, dir, "c2.parquet", []jsonText{{`{}`, 1}}), []string{"c2.parquet", `column "text" has logical type`}},
		{"text a list", writeParquet(t, dir, "c3.parquet", []listText{{[]string{"a", "b"}, 1}}), []string{"c3.parquet", `no "text" column`}},
		{"text repeated", writeParquet(t, dir, "c4.parquet", []repeatedText{{[]string{"a"}, 1}, {[]string{"b"}, 2}}), []string{"c4.parquet", `column "text" is repeated`}},
		// More values than rows: a well-formed file, not a malformed one.
		{"text repeated, two values a row", writeParquet(t, dir, "c5.parquet", []repeatedText{{[]string{"a", "b"}, 1}}),
			[]string{"c5.parquet", `column "text" is repeated`}},
		{"label repeated", writeParquet(t, dir, "c6.parquet", []repeatedLabel{{"a", []int64{1, 2}}}), []string{"c6.parquet", `column "label" is repeated`}},
		{"label a string", writeParquet(t, dir, "d.parquet", []stringLabel{{"x", "ang"}}), []string{"d.parquet", `column "label" has type`}},
		{"label a float", writeParquet(t, dir, "d2.parquet", []floatLabel{{"x", 1}}), []string{"d2.parquet", `column "label" has type DOUBLE`}},
		{"label beyond names", writeParquet(t, dir, "e.parquet", []hfRow{{"a", 0}, {"b", 4}}, hfOptions(&parquet.Snappy)...),
			[]string{"e.parquet", "row 1", "label 4 is outside the ClassLabel names [ang hap neu sad]"}},
		{"negative label", writeParquet(t, dir, "f.parquet", []hfRow{{"a", -1}}), []string{"f.parquet", "row 0", "label -1"}},
		{"label not of the 4 classes", writeParquet(t, dir, "g.parquet", []hfRow{{"a", 1}, {"b", 2}, {"c", 4}}, fruMeta),
			[]string{"g.parquet", "row 2", "label 4 (fru) is not one of the 4 classes"}},
		{"empty text", writeParquet(t, dir, "h.parquet", []hfRow{{"a", 1}, {"", 2}}), []string{"h.parquet", "row 1", "text is empty"}},
		{"blank text", writeParquet(t, dir, "i.parquet", []hfRow{{" \t\n", 2}}), []string{"i.parquet", "row 0", "text is empty"}},
		{"latin-1 text", writeParquet(t, dir, "h2.parquet", []hfRow{{"a", 1}, {"caf\xe9", 2}}), []string{"h2.parquet", "row 1", "not valid UTF-8 (byte 4 of the text is 0xe9"}},
		{"null text", writeParquet(t, dir, "j.parquet", []arrowRow{{s("a"), n(1)}, {nil, n(1)}}), []string{"j.parquet", "row 1", "text is null"}},
		{"null label", writeParquet(t, dir, "k.parquet", []arrowRow{{s("a"), nil}}), []string{"k.parquet", "row 0", "label is null"}},
		{"bad metadata", writeParquet(t, dir, "l.parquet", fixtureRows, badMeta), []string{"l.parquet", "invalid huggingface metadata"}},
		// parquet-go's LZ4 decoder has no bound on a corrupt page's output.
		{"LZ4 pages", writeParquet(t, dir, "m.parquet", fixtureRows, hfOptions(&parquet.Lz4Raw)...),
			[]string{"m.parquet", "column text", "compression LZ4_RAW is not supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadParquet(tt.path, 1)
			if err == nil {
				t.Fatalf("ReadParquet(%s) = %d utterances, want an error", tt.path, len(got))

			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

// TestCheckParquetFrame checks the frame that checkParquetFrame reads
// before parquet-go does: PAR1 at both ends, and a footer length that fits
// between them. A file of size bytes has size-12 bytes between its two
// magic numbers and the length field, so a footer of size-12 bytes is the
// largest that fits and one of size-11 already overlaps the leading magic
// number: the bound is exact, and parquet-go must never be handed a length
// past it (it allocates what the length says).
func TestCheckParquetFrame(t *testing.T) {
	const size = 100
	frame := func(head string, footer uint32, tail string) []byte {
		b := append([]byte(head), make([]byte, size-4-8)...)
		b = binary.LittleEndian.AppendUint32(b, footer)
		return append(b, tail...)
	}
	tests := []struct {
		name string
		file []byte
		err  string // "" for a frame that passes
	}{
		{"footer of size-12 bytes, the largest that fits", frame("PAR1", size-12, "PAR1"), ""},
		{"an empty footer", frame("PAR1", 0, "PAR1"), ""},
		{"footer of size-11 bytes", frame("PAR1", size-11, "PAR1"), "footer of 89 bytes in a file of 100"},
		{"footer of size-8 bytes", frame("PAR1", size-8, "PAR1"), "footer of 92 bytes in a file of 100"},
		{"footer of 4 GiB", frame("PAR1", 1<<32-1, "PAR1"), "footer of 4294967295 bytes in a file of 100"},
		{"no leading magic", frame("PAR0", 10, "PAR1"), "no PAR1 magic number"},
		{"no trailing magic", frame("PAR1", 10, "RAP1"), "no PAR1 magic number"},
		{"too short", []byte("PAR1PAR1"), "8 bytes, too short"},
		{"magic numbers alone and a length", []byte("PAR1\x00\x00\x00\x00PAR1"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkParquetFrame(bytes.NewReader(tt.file), int64(len(tt.file)))
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("a good frame of %d bytes: %v", len(tt.file), err)
			case tt.err != "" && err == nil:
				t.Errorf("no error, want one saying %q", tt.err)
			case tt.err != "" && !strings.Contains(err.Error(), tt.err):
				t.Errorf("error %q does not say %q", err, tt.err)
			}
		})
	}

	// A real file whose footer length claims one byte too many: ReadParquet
	// refuses it at the frame, before parquet-go reads the footer.
	dir := t.TempDir()
	b, err := os.ReadFile(writeParquet(t, dir, "good.parquet", fixtureRows, hfOptions(&parquet.Snappy)...))
	if err != nil {
		t.Fatal(err)
	}
	n := len(b)
	binary.LittleEndian.PutUint32(b[n-8:], uint32(n-11))
	bad := filepath.Join(dir, "long-footer.parquet")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("not a readable parquet file (not parquet, or truncated): footer of %d bytes in a file of %d", n-11, n)
	if _, err := ReadParquet(bad, 1); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ReadParquet of a file whose footer length is its size-11: %v, want an error saying %q", err, want)
	}
}

func TestSessionOfPath(t *testing.T) {
	tests := []struct {
		path string
		want int // 0: an error
	}{
		{"data/session1-00000-of-00001.parquet", 1},
		{"/a/b/Session5.parquet", 5},
		{"session_3.parquet", 3},
		{"x/session4/0000.parquet", 4},
		{"default/session2/train-0001.parquet", 2},
		{"session2/session3-x.parquet", 3},
		{"data/train.parquet", 0},
		{"session6-00000.parquet", 0},
		{"session0.parquet", 0},
		{"mysession3.parquet", 0},
		{"session12.parquet", 0},
	}
	for _, tt := range tests {
		got, err := sessionOfPath(tt.path)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("sessionOfPath(%q) = %d, want an error", tt.path, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("sessionOfPath(%q) = %d, %v; want %d", tt.path, got, err, tt.want)
		}
	}
}

// sessionRows makes n distinct rows for session s.
func sessionRows(s, n int) []hfRow {
	rows := make([]hfRow, n)
	for i := range rows {
		rows[i] = hfRow{Text: fmt.Sprintf("session %d row %d", s, i), Label: int64((s + i) % 4)}
	}
	return rows
}

func TestLoadParquet(t *testing.T) {
	dir := t.TempDir()
	writeParquet(t, dir, "data/session2-00000-of-00001.parquet", sessionRows(2, 3), hfOptions(&parquet.Zstd)...)
	writeParquet(t, dir, "data/session1-00000-of-00001.parquet", sessionRows(1, 2), hfOptions(&parquet.Snappy)...)
	writeParquet(t, dir, "more/session3/0000.parquet", sessionRows(3, 2)[:1], hfOptions(&parquet.Gzip)...)
	writeParquet(t, dir, "more/session3/0001.parquet", sessionRows(3, 2)[1:], hfOptions(&parquet.Gzip)...)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("not parquet"), 0o644)

	c, err := LoadParquet([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		session, turn int
		text          string
	}
	var got []key
	for _, u := range c.Utterances {
		got = append(got, key{u.Session, u.Turn, u.Text})
		if u.ID != "" || u.Dialog != "" || u.Speaker != "" || u.Gender != 0 {
			t.Errorf("utterance %+v has fields the source does not give", u)
		}
		if l, ok := ClassOfName(u.RawLabel); !ok || l != u.Label {
			t.Errorf("utterance %+v: label does not match its raw label", u)
		}
	}
	want := []key{
		{1, 0, "session 1 row 0"}, {1, 1, "session 1 row 1"},
		{2, 0, "session 2 row 0"}, {2, 1, "session 2 row 1"}, {2, 2, "session 2 row 2"},
		{3, 0, "session 3 row 0"}, {3, 1, "session 3 row 1"}, // Turn goes on across a session's shards
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("utterances\n got %v\nwant %v", got, want)
	}
	if c.HasSpeakers || c.HasDialogs {
		t.Error("HasSpeakers or HasDialogs set for a source without utterance IDs")
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "no utterance IDs") {
		t.Errorf("Warnings = %q, want one about missing utterance IDs", c.Warnings)
	}
	if !strings.Contains(c.Source, dir) {
		t.Errorf("Source = %q does not name %s", c.Source, dir)
	}

	// The same files, listed one by one and twice: the same corpus.
	files := []string{
		filepath.Join(dir, "more/session3/0001.parquet"), filepath.Join(dir, "data/session1-00000-of-00001.parquet"),
		filepath.Join(dir, "data/session2-00000-of-00001.parquet"), filepath.Join(dir, "more/session3/0000.parquet"),
		filepath.Join(dir, "data"),
	}
	c2, err := LoadParquet(files)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c2.Utterances, c.Utterances) {
		t.Errorf("loading the files one by one gives another corpus")
	}

	// Data linked in rather than copied: a linked folder, linked files, a
	// link to the whole folder, and a link cycle that must not loop.
	links := t.TempDir()
	for _, l := range []struct{ target, name string }{
		{filepath.Join(dir, "data"), "data"},
		{filepath.Join(dir, "more/session3/0000.parquet"), "session3-0000.parquet"},
		{filepath.Join(dir, "more/session3/0001.parquet"), "session3-0001.parquet"},
		{links, "loop"},
	} {
		if err := os.Symlink(l.target, filepath.Join(links, l.name)); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Symlink(links, root); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{links, root} {
		c3, err := LoadParquet([]string{p})
		if err != nil {
			t.Fatalf("linked data %s: %v", p, err)
		}
		if !reflect.DeepEqual(c3.Utterances, c.Utterances) {
			t.Errorf("linked data %s gives another corpus", p)
		}
	}
}

func TestLoadParquetErrors(t *testing.T) {
	dir := t.TempDir()
	noSession := writeParquet(t, dir, "x/train.parquet", fixtureRows)
	badSession := writeParquet(t, dir, "y/session7.parquet", fixtureRows)
	bad := filepath.Join(dir, "z", "session1.parquet")
	os.MkdirAll(filepath.Dir(bad), 0o755)
	os.WriteFile(bad, []byte("nope"), 0o644)
	emptyDir := filepath.Join(dir, "empty")
	os.MkdirAll(emptyDir, 0o755)
	tests := []struct {
		name  string
		paths []string
		says  []string
	}{
		{"nothing", nil, []string{"no path"}},
		{"missing", []string{filepath.Join(dir, "missing")}, []string{"missing", "no such file"}},
		{"no parquet files", []string{emptyDir}, []string{emptyDir, "no .csv files in the folder, nor .parquet files in it or its subfolders"}},
		{"no session", []string{noSession}, []string{"train.parquet", "cannot tell the session"}},
		{"session out of range", []string{badSession}, []string{"session7.parquet", "session 7"}},
		{"bad file", []string{bad}, []string{bad, "not a readable parquet file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadParquet(tt.paths)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

// TestClassOfName checks every name of the name→class map (the short
// IEMOCAP codes, the ClassLabel names of the hub's datasets, and the nouns
// some of them use: anger, happiness, sadness), each also in another case,
// and names outside the four classes. A name dropped from the map would
// make ReadParquet refuse a whole file whose ClassLabel names use it
// ("excited" merged into happy, say), so each is listed here by hand rather
// than read back from the map.
func TestClassOfName(t *testing.T) {
	tests := []struct {
		name string
		want Label
		ok   bool
	}{
		{"ang", Angry, true}, {"angry", Angry, true}, {"anger", Angry, true},
		{"hap", Happy, true}, {"happy", Happy, true}, {"happiness", Happy, true},
		{"exc", Happy, true}, {"excited", Happy, true},
		{"neu", Neutral, true}, {"neutral", Neutral, true},
		{"sad", Sad, true}, {"sadness", Sad, true},
		// Any case, and spaces around.
		{"Angry", Angry, true}, {"ANGER", Angry, true}, {"Excited", Happy, true}, {"HAPPINESS", Happy, true},
		{"NEUTRAL", Neutral, true}, {"Sadness", Sad, true}, {" sad ", Sad, true}, {"\texc\n", Happy, true},
		{"fru", NoLabel, false}, {"xxx", NoLabel, false}, {"sur", NoLabel, false}, {"frustrated", NoLabel, false},
		{"excite", NoLabel, false}, {"", NoLabel, false},
	}
	if n := len(classOfName); n != 12 {
		t.Errorf("classOfName has %d names, the test lists 12: list the new ones here", n)
	}
	for _, tt := range tests {
		if got, ok := ClassOfName(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("ClassOfName(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// fakeHubCommit is the commit fakeHubRepo's main names.
const fakeHubCommit = "89abcdef0123456789abcdef0123456789abcdef"

// fakeHubRepo serves a dataset repository's listing and files as the hub
// does (see package hub), with the git blob id of each file as its ETag.
func fakeHubRepo(t *testing.T, repo string, files map[string][]byte) *httptest.Server {
	return fakeHubRepoFailing(t, repo, files, nil)
}

// fakeHubRepoFailing is fakeHubRepo, but the files for which fail returns
// true are answered with 503 Service Unavailable.
func fakeHubRepoFailing(t *testing.T, repo string, files map[string][]byte, fail func(name string) bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/datasets/"+repo+"/revision/main" {
			var sib []map[string]string
			for name := range files {
				sib = append(sib, map[string]string{"rfilename": name})
			}
			json.NewEncoder(w).Encode(map[string]any{"id": repo, "sha": fakeHubCommit, "siblings": sib})
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/datasets/"+repo+"/resolve/")
		rev, name, _ := strings.Cut(rest, "/")
		data, found := files[name]
		if !ok || rev != "main" && rev != fakeHubCommit || !found {
			w.Header().Set("X-Error-Code", "EntryNotFound")
			http.NotFound(w, r)
			return
		}
		if fail != nil && fail(name) {
			http.Error(w, "boom", http.StatusServiceUnavailable)
			return
		}
		h := sha1.New()
		fmt.Fprintf(h, "blob %d\x00", len(data))
		h.Write(data)
		w.Header().Set("X-Repo-Commit", fakeHubCommit)
		w.Header().Set("ETag", `"`+hex.EncodeToString(h.Sum(nil))+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if r.Method == http.MethodGet {
			w.Write(data)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoadHub(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{"README.md": []byte("# IEMOCAP text\n"), "data/extra.parquet": []byte("not a session")}
	for s := 1; s <= 2; s++ {
		name := fmt.Sprintf("data/session%d-00000-of-00001.parquet", s)
		b, err := os.ReadFile(writeParquet(t, dir, name, sessionRows(s, 3), hfOptions(&parquet.Snappy)...))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	srv := fakeHubRepo(t, "someone/iemocap", files)
	cache := t.TempDir()
	c := &hub.Client{Endpoint: srv.URL, CacheDir: cache, HTTP: srv.Client()}
	got, err := LoadHub(context.Background(), c, "someone/iemocap", "")
	if err != nil {
		t.Fatal(err)
	}
	want, err := LoadParquet([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Utterances, want.Utterances) {
		t.Errorf("LoadHub utterances differ from the local files'")
	}
	if got.Source != "hf://datasets/someone/iemocap" || len(got.Warnings) != 1 {
		t.Errorf("Source %q, Warnings %q", got.Source, got.Warnings)
	}

	// A second run needs no network: the hub is gone, offline.
	srv.Close()
	off := &hub.Client{Endpoint: "http://offline.invalid", CacheDir: cache, Offline: true}
	again, err := LoadHub(context.Background(), off, "someone/iemocap", "main")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Utterances, want.Utterances) || again.Source != "hf://datasets/someone/iemocap@main" {
		t.Errorf("offline LoadHub differs: %d utterances, source %q", len(again.Utterances), again.Source)
	}
	if _, err := LoadHub(context.Background(), off, "someone/other", ""); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("offline LoadHub of an uncached repo: err = %v, want a hint about --data", err)
	}
}

// TestLoadHubOfflineMissingSession: a cache that an earlier online run left
// partial (session 2's download failed) is not loaded offline as a shorter
// corpus: the file the listing named but the cache lacks is an error.
func TestLoadHubOfflineMissingSession(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	for s := 1; s <= 2; s++ {
		name := fmt.Sprintf("data/session%d-00000-of-00001.parquet", s)
		b, err := os.ReadFile(writeParquet(t, dir, name, sessionRows(s, 3), hfOptions(&parquet.Snappy)...))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	const repo = "someone/iemocap"
	srv := fakeHubRepoFailing(t, repo, files, func(name string) bool { return strings.Contains(name, "session2") })
	cache := t.TempDir()
	c := &hub.Client{Endpoint: srv.URL, CacheDir: cache, HTTP: srv.Client()}
	if _, err := LoadHub(context.Background(), c, repo, ""); err == nil {
		t.Fatal("online LoadHub succeeded with session 2's download failing")
	}
	srv.Close()
	for _, cl := range []*hub.Client{
		{Endpoint: "http://offline.invalid", CacheDir: cache, Offline: true},
		{Endpoint: srv.URL, CacheDir: cache, HTTP: srv.Client()}, // online, the hub gone
	} {
		corpus, err := LoadHub(context.Background(), cl, repo, "")
		if err == nil {
			sessions := map[int]int{}
			for _, u := range corpus.Utterances {
				sessions[u.Session]++
			}
			t.Errorf("offline=%v: LoadHub of a partial cache succeeded with sessions %v (the repository has sessions 1 and 2)", cl.Offline, sessions)
			continue
		}
		if !strings.Contains(err.Error(), "data/session2-00000-of-00001.parquet") {
			t.Errorf("offline=%v: err = %v, want one naming the missing file", cl.Offline, err)
		}
		if cl.Offline && (!errors.Is(err, hub.ErrNotCached) || !strings.Contains(err.Error(), "not in the cache")) {
			t.Errorf("offline: err = %v, want ErrNotCached saying the file is not in the cache", err)
		}
	}
}

// TestLoadHubOneCommit: the files are downloaded at the commit the listing
// resolved main to, even when main moves to another commit meanwhile, and
// the downloads at that commit leave refs/main as the listing wrote it.
func TestLoadHubOneCommit(t *testing.T) {
	const repo = "someone/iemocap"
	const commitA, commitB = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	dir := t.TempDir()
	a, err := os.ReadFile(writeParquet(t, dir, "a/session1.parquet", []hfRow{{Text: "text of commit A", Label: 0}}, hfOptions(&parquet.Snappy)...))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(writeParquet(t, dir, "b/session1.parquet", []hfRow{{Text: "text of commit B", Label: 1}}, hfOptions(&parquet.Snappy)...))
	if err != nil {
		t.Fatal(err)
	}
	content := map[string][]byte{commitA: a, commitB: b}
	var mu sync.Mutex
	var revisions []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/datasets/"+repo+"/revision/main" {
			json.NewEncoder(w).Encode(map[string]any{"sha": commitA, "siblings": []map[string]string{{"rfilename": "session1.parquet"}}})
			return
		}
		rest, _ := strings.CutPrefix(r.URL.Path, "/datasets/"+repo+"/resolve/")
		rev, _, _ := strings.Cut(rest, "/")
		mu.Lock()
		revisions = append(revisions, r.Method+" "+rev)
		mu.Unlock()
		commit := rev
		if rev == "main" { // main moved to B after the listing
			commit = commitB
		}
		data, ok := content[commit]
		if !ok {
			w.Header().Set("X-Error-Code", "RevisionNotFound")
			http.NotFound(w, r)
			return
		}
		h := sha1.New()
		fmt.Fprintf(h, "blob %d\x00", len(data))
		h.Write(data)
		w.Header().Set("X-Repo-Commit", commit)
		w.Header().Set("ETag", `"`+hex.EncodeToString(h.Sum(nil))+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if r.Method == http.MethodGet {
			w.Write(data)
		}
	}))
	t.Cleanup(srv.Close)
	c := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir(), HTTP: srv.Client()}
	corpus, err := LoadHub(context.Background(), c, repo, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(corpus.Utterances) != 1 || corpus.Utterances[0].Text != "text of commit A" {
		t.Errorf("listed at commit A, loaded %+v", corpus.Utterances)
	}
	for _, r := range revisions {
		if !strings.HasSuffix(r, " "+commitA) {
			t.Errorf("request %q: want every download at commit A", r)
		}
	}
	if ref, err := os.ReadFile(filepath.Join(c.RepoFolder(repo), "refs", "main")); err != nil || string(ref) != commitA {
		t.Errorf("refs/main = %q, %v; want %s, the commit the listing gave", ref, err, commitA)
	}
	if corpus.Source != "hf://datasets/"+repo {
		t.Errorf("Source %q", corpus.Source)
	}
}

func TestLoadHubNoSessionFiles(t *testing.T) {
	srv := fakeHubRepo(t, "someone/plain", map[string][]byte{"data/train-00000.parquet": []byte("x"), "README.md": []byte("x")})
	c := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir(), HTTP: srv.Client()}
	_, err := LoadHub(context.Background(), c, "someone/plain", "")
	if err == nil || !strings.Contains(err.Error(), "no session parquet files") || !strings.Contains(err.Error(), "someone/plain") {
		t.Errorf("err = %v, want one saying the repository has no session files", err)
	}
}

// TestZahra99 loads the real Zahra99/IEMOCAP_Text files in ../../shared/data
// when they are there, and checks the counts of ../shared/data/README.md.
func TestZahra99(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "data", "zahra99")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real data not present: %v", err)
	}
	c, err := LoadParquet([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	// session → ang, hap, neu, sad
	want := map[int][NumClasses]int{
		1: {229, 278, 384, 194},
		2: {137, 327, 362, 197},
		3: {240, 286, 320, 305},
		4: {327, 303, 258, 143},
		5: {170, 442, 384, 245},
	}
	got := map[int][NumClasses]int{}
	for _, u := range c.Utterances {
		counts := got[u.Session]
		counts[u.Label]++
		got[u.Session] = counts
	}
	if len(c.Utterances) != 5531 {
		t.Errorf("%d utterances, want 5531", len(c.Utterances))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("per-session class counts\n got %v\nwant %v", got, want)
	}
}

// FuzzReadParquet checks that no input makes ReadParquet panic, and that
// whatever it accepts is well formed.
func FuzzReadParquet(f *testing.F) {
	dir := f.TempDir()
	for i, c := range []compress.Codec{&parquet.Snappy, &parquet.Zstd, &parquet.Gzip} {
		b, err := os.ReadFile(writeParquet(f, dir, fmt.Sprintf("seed%d.parquet", i), fixtureRows, hfOptions(c)...))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-9])
		f.Add(b[len(b)/3:])
	}
	f.Add([]byte("PAR1PAR1"))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "session1.parquet")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		utts, err := ReadParquet(p, 1)
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		for i, u := range utts {
			if u.Turn != i || u.Session != 1 || !u.Labelled() || strings.TrimSpace(u.Text) == "" {
				t.Errorf("utterance %d is malformed: %+v", i, u)
			}
		}
	})
}

// rewriteFooter writes to dir/name the parquet file at path with its footer
// edited by edit, and returns the new file's path.
func rewriteFooter(t *testing.T, path, dir, name string, edit func(*format.FileMetaData)) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	body, footer := b[:len(b)-8-n], b[len(b)-8-n:len(b)-8]
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), footer, &md); err != nil {
		t.Fatal(err)
	}
	edit(&md)
	footer, err = thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte(nil), body...), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	out = append(out, "PAR1"...)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadParquetChecksValueCounts: a column that is not repeated has one
// value a row; a footer claiming more (which parquet-go would allocate
// for) is refused before any page is read, while a repeated column may
// hold more values than rows.
func TestReadParquetChecksValueCounts(t *testing.T) {
	dir := t.TempDir()
	good := writeParquet(t, dir, "good.parquet", fixtureRows, hfOptions(&parquet.Snappy)...)
	if _, err := ReadParquet(rewriteFooter(t, good, dir, "same.parquet", func(*format.FileMetaData) {}), 1); err != nil {
		t.Fatalf("a footer rewritten unchanged: %v", err)
	}
	for _, col := range []int{0, 1} {
		p := rewriteFooter(t, good, dir, fmt.Sprintf("more%d.parquet", col), func(md *format.FileMetaData) {
			rg := &md.RowGroups[0]
			rg.Columns[col].MetaData.NumValues = rg.NumRows + 1
		})
		_, err := ReadParquet(p, 1)
		if want := "values, outside a file of"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("column %d with a value more than rows: %v, want an error saying %q", col, err, want)
		}
	}
}

// TestReadParquetChecksRowCount: the rows read must be the footer's count
// of rows, in either direction, so that a file whose footer and row groups
// disagree is refused rather than read short.
func TestReadParquetChecksRowCount(t *testing.T) {
	dir := t.TempDir()
	good := writeParquet(t, dir, "good.parquet", fixtureRows, hfOptions(&parquet.Snappy)...)
	for _, delta := range []int64{-1, 1} {
		name := fmt.Sprintf("rows%+d.parquet", delta)
		p := rewriteFooter(t, good, dir, name, func(md *format.FileMetaData) { md.NumRows += delta })
		_, err := ReadParquet(p, 1)
		want := fmt.Sprintf("read %d rows, the footer says %d", len(fixtureRows), int64(len(fixtureRows))+delta)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("footer count %+d: %v, want an error naming %s and saying %q", delta, err, name, want)
		}
	}
}
