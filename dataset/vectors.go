package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// WordVectors are pretrained word vectors (GloVe, word2vec, fastText) for
// the tokens of a vocabulary: what ReadWordVectors found.
type WordVectors struct {
	Path string // the file read
	Dim  int    // features per vector
	// Rows holds, per vocabulary id, the token's vector, or nil where the
	// file has none (and for <pad> and <unk>, never looked up).
	Rows [][]float32
	// Found counts the non-nil Rows; Words counts the file's vectors.
	Found, Words int
	// Binary says the file was word2vec's binary format, not text.
	Binary bool
}

// Coverage is the share of the vocabulary's tokens (<pad> and <unk> left
// out) that have a vector.
func (w *WordVectors) Coverage() float64 {
	n := len(w.Rows) - 2
	if n <= 0 {
		return 0
	}
	return float64(w.Found) / float64(n)
}

// maxVectorDim bounds the dimension a vectors file may declare, far above
// any published one (GloVe's and fastText's are at most 300), so that a
// corrupt header is refused before it allocates.
const maxVectorDim = 1 << 16

// ReadWordVectors reads the vectors of v's tokens from a word-vectors
// file, streaming it and keeping only the vectors it needs. It reads:
//
//   - GloVe's text format: one vector a line, the word, then its values,
//     separated by spaces (GloVe 840B's few words with spaces in them,
//     never tokens, are passed over);
//   - word2vec's and fastText's text format (.vec): the same lines after a
//     first line "count dim";
//   - word2vec's binary format (.bin): the line "count dim", then each
//     word, a space and dim little-endian float32s;
//
// each of them plain, gzip- or zstd-compressed (told by their first bytes,
// not by the name). The dimension is the header's, or the first line's
// count of values; every vector a token takes must have it and hold
// finite numbers (the others are counted, not parsed).
//
// A token takes the vector of the same word; failing that, of the first
// word of the file that lowercases to it (the tokens are lowercase; cased
// files such as fastText's list the commonest form first). <pad> and
// <unk> take none: the embedding keeps <pad> zero and <unk> its initial
// draw. Errors name the file and the line (the vector, in a binary file).
func ReadWordVectors(path string, v *Vocab) (*WordVectors, error) {
	r, closeR, err := openVectors(path)
	if err != nil {
		return nil, err
	}
	defer closeR()
	wv := &WordVectors{Path: path, Rows: make([][]float32, v.Len())}
	rd := vectorReader{r: r, path: path, wv: wv, v: v, folded: map[int32]bool{}}
	if err := rd.read(); err != nil {
		return nil, err
	}
	if wv.Words == 0 {
		return nil, fmt.Errorf("word vectors %s: no vectors in the file", path)
	}
	if wv.Found == 0 {
		return nil, fmt.Errorf("word vectors %s: none of the vocabulary's %d tokens has a vector among the file's %d (of %d values each): is it a file of word vectors for this text?",
			path, v.Len()-2, wv.Words, wv.Dim)
	}
	return wv, nil
}

// WordVectorsDim returns the dimension of the vectors of a file that
// ReadWordVectors reads, from its first line alone.
func WordVectorsDim(path string) (int, error) {
	r, closeR, err := openVectors(path)
	if err != nil {
		return 0, err
	}
	defer closeR()
	rd := vectorReader{r: r, path: path}
	if _, _, err := rd.start(); err != nil {
		return 0, err
	}
	return rd.dim, nil
}

// openVectors opens a vectors file, decompressed, and returns a function
// that closes it.
func openVectors(path string) (*bufio.Reader, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("word vectors: %w", err)
	}
	r, closeR, err := decompressed(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("word vectors %s: %w", path, err)
	}
	return r, func() { closeR(); f.Close() }, nil
}

// decompressed returns r, or a reader of its decompressed bytes where it
// starts as a gzip or zstd stream does, and a function that frees it.
func decompressed(r *bufio.Reader) (*bufio.Reader, func(), error) {
	magic, _ := r.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return bufio.NewReaderSize(z, 1<<20), func() { z.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return bufio.NewReaderSize(z, 1<<20), z.Close, nil
	}
	return r, func() {}, nil
}

// vectorReader reads one file into wv.
type vectorReader struct {
	r    *bufio.Reader
	path string
	wv   *WordVectors
	v    *Vocab
	line int // of the last line read (1-based)
	dim  int // values per vector
	// folded marks the rows filled by a case-folded match, which the
	// token's exact word, later in the file, replaces.
	folded map[int32]bool
	vals   []float32
	// wide counts the lines of words the vocabulary needs that hold more
	// numbers than dim after the word (a word with spaces has words
	// there); wideLine and wideValues describe the first of them.
	wide, wideLine, wideValues int
	wideWord                   string
}

func (rd *vectorReader) errorf(format string, args ...any) error {
	return fmt.Errorf("word vectors %s:%d: %s", rd.path, rd.line, fmt.Sprintf(format, args...))
}

// nextLine returns the next line without its line end, io.EOF after the
// last.
func (rd *vectorReader) nextLine() (string, error) {
	s, err := rd.r.ReadString('\n')
	if err == io.EOF && s == "" {
		return "", io.EOF
	}
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("word vectors %s: line %d: %w", rd.path, rd.line+1, err)
	}
	rd.line++
	return strings.TrimRight(s, "\r\n"), nil
}

func (rd *vectorReader) read() error {
	first, count, err := rd.start()
	if err != nil {
		return err
	}
	rd.wv.Dim = rd.dim
	if count >= 0 {
		if rd.isBinary() {
			rd.wv.Binary = true
			return rd.readBinary(count)
		}
	} else if err := rd.textVector(first); err != nil {
		return err
	}
	if err := rd.readText(); err != nil {
		return err
	}
	// A few such lines are words with spaces whose parts are numbers
	// ("1 000"); as many as the vectors kept, the first line's width is
	// what is wrong.
	if rd.wide > 0 && rd.wide >= rd.wv.Found {
		return fmt.Errorf("word vectors %s:%d: %d values after the word %q, want %d (the dimension of the file's first line, which %d of the %d lines of the vocabulary's words do not have): is the first line cut short?",
			rd.path, rd.wideLine, rd.wideValues, quoteStart(rd.wideWord, 40), rd.dim, rd.wide, rd.wide+rd.wv.Found)
	}
	return nil
}

// start reads the first line and sets the dimension from it: a header's
// (count ≥ 0 returned), or a first vector's (returned as first, count −1).
func (rd *vectorReader) start() (first string, count int, err error) {
	first, err = rd.nextLine()
	if err == io.EOF {
		return "", 0, fmt.Errorf("word vectors %s: the file is empty", rd.path)
	}
	if err != nil {
		return "", 0, err
	}
	fields := strings.Fields(first)
	if count, dim, ok := header(fields); ok {
		if dim > maxVectorDim {
			return "", 0, rd.errorf("the header declares %d dimensions, more than %d", dim, maxVectorDim)
		}
		rd.dim = dim
		return "", count, nil
	}
	if len(fields) < 2 {
		return "", 0, rd.errorf("%q is neither a header (count dim) nor a word and its values", quoteStart(first, 40))
	}
	rd.dim = len(fields) - 1
	return first, -1, nil
}

// header reports whether fields are word2vec's first line: the count of
// vectors and their dimension, integers, the dimension positive.
func header(fields []string) (count, dim int, ok bool) {
	if len(fields) != 2 {
		return 0, 0, false
	}
	c, err1 := strconv.Atoi(fields[0])
	d, err2 := strconv.Atoi(fields[1])
	if err1 != nil || err2 != nil || c < 0 || d <= 0 {
		return 0, 0, false
	}
	return c, d, true
}

// isBinary tells word2vec's binary records from text lines after a
// header: after its word (of any script), a text line is printable ASCII,
// its first field a number; a binary record's float32s hold bytes of every
// value, and one of the first few is, all but certainly, a control byte or
// not ASCII.
func (rd *vectorReader) isBinary() bool {
	b, _ := rd.r.Peek(min(rd.r.Size(), 1024+32*rd.dim))
	if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
		b = b[:nl]
	}
	sp := bytes.IndexAny(b, " \t") // text lines split on either, as textVector does
	if sp < 0 {
		return true
	}
	b = b[sp:]
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' || c >= 0x7f {
			return true
		}
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return true
	}
	_, err := strconv.ParseFloat(fields[0], 32)
	return err != nil
}

func (rd *vectorReader) readText() error {
	for {
		s, err := rd.nextLine()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		if err := rd.textVector(s); err != nil {
			return err
		}
	}
}

// textVector reads one text line: the word (which may hold spaces), then
// Dim values. Only a line whose first field is a word the vocabulary
// needs is split and parsed (a word with spaces is never a token).
func (rd *vectorReader) textVector(s string) error {
	rd.wv.Words++
	first := s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		first = s[:i]
	}
	id, exact := rd.lookup(first)
	if id < 0 {
		return nil
	}
	fields := strings.Fields(s)
	dim := rd.dim
	if len(fields) < dim+1 {
		return rd.errorf("%d values after the word %q, want %d (the dimension of the file's first vector)",
			max(len(fields)-1, 0), quoteStart(first, 40), dim)
	}
	if len(fields) > dim+1 {
		if allNumbers(fields[1:]) {
			if rd.wide++; rd.wide == 1 {
				rd.wideLine, rd.wideValues, rd.wideWord = rd.line, len(fields)-1, first
			}
		}
		return nil // the word holds spaces: not a token
	}
	vals := rd.values()
	for i, f := range fields[1:] {
		x, err := strconv.ParseFloat(f, 32)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return rd.errorf("value %d of %q is %q, not a finite number", i+1, quoteStart(first, 40), quoteStart(f, 20))
		}
		vals[i] = float32(x)
	}
	rd.keep(id, exact, vals)
	return nil
}

// allNumbers reports whether every field parses as a number.
func allNumbers(fields []string) bool {
	for _, f := range fields {
		if _, err := strconv.ParseFloat(f, 32); err != nil {
			return false
		}
	}
	return true
}

// readBinary reads count word2vec binary records.
func (rd *vectorReader) readBinary(count int) error {
	dim := rd.dim
	raw := make([]byte, 4*dim)
	for n := range count {
		rd.line = n + 2 // the record's "line": the header is line 1
		word, err := rd.r.ReadString(' ')
		if err == io.EOF && strings.TrimSpace(word) == "" {
			return rd.errorf("the file ends after %d of the %d vectors its header declares", n, count)
		}
		if err != nil {
			return rd.errorf("vector %d: %v", n+1, err)
		}
		// word2vec writes a newline after each vector; some writers do not.
		word = strings.TrimLeft(strings.TrimSuffix(word, " "), "\n")
		if _, err := io.ReadFull(rd.r, raw); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return rd.errorf("the file ends inside the vector of %q (vector %d of %d)", quoteStart(word, 40), n+1, count)
			}
			return rd.errorf("vector %d: %v", n+1, err)
		}
		rd.wv.Words++
		id, exact := rd.lookup(word)
		if id < 0 {
			continue
		}
		vals := rd.values()
		for i := range vals {
			x := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return rd.errorf("value %d of %q is %g, not a finite number", i+1, quoteStart(word, 40), x)
			}
			vals[i] = x
		}
		rd.keep(id, exact, vals)
	}
	return nil
}

// lookup returns the vocabulary id word gives a vector to (−1 for none):
// the token word itself where it has no vector yet, or only a case-folded
// one; else the token lowercase(word) where that has no vector yet.
func (rd *vectorReader) lookup(word string) (id int32, exact bool) {
	rows := rd.wv.Rows
	if id := rd.v.ID(word); id > UnkID {
		if rows[id] == nil || rd.folded[id] {
			return id, true
		}
		return -1, false
	}
	low := strings.ToLower(word)
	if low == word {
		return -1, false
	}
	if id := rd.v.ID(low); id > UnkID && rows[id] == nil {
		return id, false
	}
	return -1, false
}

// values returns a scratch vector of Dim values.
func (rd *vectorReader) values() []float32 {
	if rd.vals == nil {
		rd.vals = make([]float32, rd.dim)
	}
	return rd.vals
}

// keep stores a copy of vals as row id.
func (rd *vectorReader) keep(id int32, exact bool, vals []float32) {
	if rd.wv.Rows[id] == nil {
		rd.wv.Found++
	}
	rd.wv.Rows[id] = append([]float32(nil), vals...)
	if exact {
		delete(rd.folded, id)
	} else {
		rd.folded[id] = true
	}
}

// quoteStart returns s, or its first n characters and an ellipsis.
func quoteStart(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
