// Package safetensors reads and writes the Hugging Face safetensors format,
// the checkpoint format of emotion.
//
// A safetensors file is
//
//	8 bytes   N, the header size, an unsigned little-endian 64-bit integer
//	N bytes   a UTF-8 JSON object, the header
//	rest      the byte buffer holding every tensor's data
//
// The header maps each tensor name to
//
//	{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
//
// with offsets in bytes relative to the start of the byte buffer, and may hold
// one more key, "__metadata__", an object of string values. Tensor data is
// little-endian and row-major (C order).
//
// What this package writes follows the reference Rust implementation
// (huggingface/safetensors, safetensors/src/tensor.rs, prepare and serialize):
//
//   - tensors are laid out by descending dtype alignment rank (the order of the
//     Rust Dtype enum: BOOL < U8 < I8 < F8_E5M2 < F8_E4M3 < I16 < U16 < F16 <
//     BF16 < I32 < U32 < F32 < F64 < I64 < U64), then by name in byte order;
//   - the header is compact JSON, "__metadata__" first (keys sorted here, since
//     Rust's HashMap has no order), then the tensors in layout order, each as
//     {"dtype":…,"shape":[…],"data_offsets":[b,e]};
//   - the header is padded with spaces to a multiple of 8 bytes, so that the
//     buffer, and every tensor in it, starts 8-byte aligned in the file.
//
// What this package reads is checked as the reference reader checks it, and a
// little more: the header must be at most 100,000,000 bytes, valid UTF-8 and
// one JSON object with nothing but white space after it; tensor names must be
// unique; each tensor entry must have exactly the fields dtype, shape and
// data_offsets, a known dtype, non-negative integer dimensions and two
// offsets; the byte span of each tensor must equal the product of its shape
// times its dtype size; sorted by offset, the tensors must tile the buffer
// from 0 to its end with no hole and no overlap; metadata values must be
// strings. Every such error wraps ErrInvalid.
//
// Save and Load add atomic file replacement and optional zstd compression of
// the whole file (conventionally named *.safetensors.zst); Load recognises a
// compressed file by the zstd magic number 28 b5 2f fd.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Names of the element types, as they appear in the "dtype" field.
const (
	BOOL   = "BOOL"
	U8     = "U8"
	I8     = "I8"
	F8E5M2 = "F8_E5M2"
	F8E4M3 = "F8_E4M3"
	I16    = "I16"
	U16    = "U16"
	F16    = "F16"
	BF16   = "BF16"
	I32    = "I32"
	U32    = "U32"
	F32    = "F32"
	F64    = "F64"
	I64    = "I64"
	U64    = "U64"
)

// MaxHeaderSize is the largest header, in bytes, that Read accepts; the
// reference implementation has the same limit.
const MaxHeaderSize = 100_000_000

// MetadataKey is the reserved header key that holds the string metadata.
const MetadataKey = "__metadata__"

// ErrInvalid is wrapped by every error that reports a malformed file or an
// invalid tensor handed to Write.
var ErrInvalid = errors.New("invalid safetensors data")

// dtypes lists the supported element types in the order of the reference
// implementation's Dtype enum (increasing alignment rank), with their sizes.
var dtypes = []struct {
	name string
	size int
}{
	{BOOL, 1}, {U8, 1}, {I8, 1}, {F8E5M2, 1}, {F8E4M3, 1},
	{I16, 2}, {U16, 2}, {F16, 2}, {BF16, 2},
	{I32, 4}, {U32, 4}, {F32, 4},
	{F64, 8}, {I64, 8}, {U64, 8},
}

// dtypeInfo returns the rank (position in the reference enum) and the size in
// bytes of the named dtype.
func dtypeInfo(name string) (rank, size int, ok bool) {
	for i, d := range dtypes {
		if d.name == name {
			return i, d.size, true
		}
	}
	return 0, 0, false
}

// DTypeSize returns the size in bytes of one element of the named dtype, and
// whether the dtype is supported.
func DTypeSize(dtype string) (int, bool) {
	_, size, ok := dtypeInfo(dtype)
	return size, ok
}

// Tensor is one named tensor: its dtype name (F32, I64, …), its shape (an
// empty shape is a scalar) and its elements as little-endian row-major bytes.
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// NumElements returns the product of t's dimensions (1 for a scalar), or an
// error when a dimension is negative or the product overflows.
func (t Tensor) NumElements() (int, error) {
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return 0, fmt.Errorf("tensor %q: negative dimension in shape %v: %w", t.Name, t.Shape, ErrInvalid)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > uint64(maxInt) {
			return 0, fmt.Errorf("tensor %q: shape %v overflows: %w", t.Name, t.Shape, ErrInvalid)
		}
		n = int(lo)
	}
	return n, nil
}

const maxInt = int(^uint(0) >> 1)

// Validate checks that t has a valid UTF-8 name other than the reserved
// MetadataKey, a supported dtype, and exactly as many data bytes as its shape
// and dtype call for.
func (t Tensor) Validate() error {
	if !utf8.ValidString(t.Name) {
		return fmt.Errorf("tensor name %q is not valid UTF-8: %w", t.Name, ErrInvalid)
	}
	if t.Name == MetadataKey {
		return fmt.Errorf("tensor name %q is reserved: %w", t.Name, ErrInvalid)
	}
	size, ok := DTypeSize(t.DType)
	if !ok {
		return fmt.Errorf("tensor %q: unknown dtype %q: %w", t.Name, t.DType, ErrInvalid)
	}
	n, err := t.NumElements()
	if err != nil {
		return err
	}
	hi, want := bits.Mul64(uint64(n), uint64(size))
	if hi != 0 || want != uint64(len(t.Data)) {
		return fmt.Errorf("tensor %q: %s%v needs %d×%d bytes, has %d: %w",
			t.Name, t.DType, t.Shape, n, size, len(t.Data), ErrInvalid)
	}
	return nil
}

// layout returns the tensors in the order Write stores them: descending dtype
// rank, then name.
func layout(tensors []Tensor) []Tensor {
	out := slices.Clone(tensors)
	sort.SliceStable(out, func(i, j int) bool {
		ri, _, _ := dtypeInfo(out[i].DType)
		rj, _, _ := dtypeInfo(out[j].DType)
		if ri != rj {
			return ri > rj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// metadataBytes is the size of the metadata's keys and values, for
// messages.
func metadataBytes(md map[string]string) int {
	n := 0
	for k, v := range md {
		n += len(k) + len(v)
	}
	return n
}

// MetadataSize returns the bytes that metadata takes in the header Write
// writes (its values escaped as JSON strings), so that a caller can tell,
// before it has tensors to write, whether its metadata leaves room for
// them under MaxHeaderSize.
func MetadataSize(metadata map[string]string) int {
	n := len(`"`+MetadataKey+`":{}`) + max(len(metadata)-1, 0) // commas
	for k, v := range metadata {
		n += jsonStringSize(k) + 1 + jsonStringSize(v)
	}
	return n
}

// jsonStringSize is the length of writeJSONString's encoding of s.
func jsonStringSize(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"', c == '\\', c == '\b', c == '\t', c == '\n', c == '\f', c == '\r':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}

// header returns the header bytes (padded JSON, without the 8-byte size
// prefix) that Write would produce for tensors and metadata, and the tensors
// in the order their data follows it.
func header(tensors []Tensor, metadata map[string]string) ([]byte, []Tensor, error) {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if err := t.Validate(); err != nil {
			return nil, nil, err
		}
		if seen[t.Name] {
			return nil, nil, fmt.Errorf("duplicate tensor name %q: %w", t.Name, ErrInvalid)
		}
		seen[t.Name] = true
	}
	keys := make([]string, 0, len(metadata))
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, nil, fmt.Errorf("metadata %q: %q is not valid UTF-8: %w", k, v, ErrInvalid)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)

	ordered := layout(tensors)
	var b bytes.Buffer
	b.WriteByte('{')
	if len(keys) > 0 {
		writeJSONString(&b, MetadataKey)
		b.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, metadata[k])
		}
		b.WriteByte('}')
	}
	var offset uint64
	for i, t := range ordered {
		if i > 0 || len(keys) > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":`)
		writeJSONString(&b, t.DType)
		b.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := offset + uint64(len(t.Data))
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > MaxHeaderSize {
		// Read refuses such a header: writing it would give a file that
		// no reader (ours or the reference) can load.
		return nil, nil, fmt.Errorf("header of %d bytes exceeds the limit of %d bytes that readers accept (%d bytes of metadata): %w",
			b.Len(), MaxHeaderSize, metadataBytes(metadata), ErrInvalid)
	}
	return b.Bytes(), ordered, nil
}

// writeJSONString writes s as a JSON string the way serde_json does: only the
// quote, the backslash and control characters are escaped, the latter as \b,
// \t, \n, \f, \r or \u00XX. s must be valid UTF-8.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// Write writes tensors and metadata to w in the safetensors format. Tensors
// are laid out by descending dtype alignment, then name, as the reference
// implementation does; the metadata is written only when it is not empty.
// Write fails without writing anything when a tensor is invalid (see
// Tensor.Validate) or two tensors share a name.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	hdr, ordered, err := header(tensors, metadata)
	if err != nil {
		return fmt.Errorf("write safetensors: %w", err)
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(hdr)))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("write safetensors header size: %w", err)
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("write safetensors header: %w", err)
	}
	for _, t := range ordered {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("write safetensors tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// Marshal returns the safetensors encoding of tensors and metadata; see Write.
func Marshal(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, tensors, metadata); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// entry is a tensor entry of a header being read.
type entry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

// isText reports whether b is printable ASCII or white space: the start
// of a text file. A safetensors file's first 8 bytes, a header size below
// MaxHeaderSize, end in zero bytes.
func isText(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// Read decodes a whole safetensors file held in data. It returns the tensors
// in the order of their data in the buffer, and the metadata (nil when the
// header has none). The Data of each returned tensor is a sub-slice of data,
// not a copy. Read never panics; every format error wraps ErrInvalid.
func Read(data []byte) ([]Tensor, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("file of %d bytes is shorter than the 8-byte header size: %w", len(data), ErrInvalid)
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize && isText(data[:8]) {
		// A JSON file (config.json) or other text given for a checkpoint.
		return nil, nil, fmt.Errorf("not a safetensors file: it begins with the text %q, where a safetensors file begins with its header's size as 8 binary bytes: %w",
			data[:min(len(data), 16)], ErrInvalid)
	}
	if n > MaxHeaderSize {
		return nil, nil, fmt.Errorf("header size %d exceeds the limit of %d bytes: %w", n, MaxHeaderSize, ErrInvalid)
	}
	if n > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("header size %d exceeds the %d bytes after the size field: %w", n, len(data)-8, ErrInvalid)
	}
	entries, metadata, err := parseHeader(data[8 : 8+n])
	if err != nil {
		return nil, nil, err
	}
	buf := data[8+n:]
	if err := checkLayout(entries, uint64(len(buf))); err != nil {
		return nil, nil, err
	}
	tensors := make([]Tensor, len(entries))
	for i, e := range entries {
		tensors[i] = Tensor{
			Name:  e.name,
			DType: e.dtype,
			Shape: e.shape,
			Data:  buf[e.begin:e.end:e.end],
		}
	}
	return tensors, metadata, nil
}

// parseHeader decodes the JSON header and checks each entry on its own:
// known dtype, valid shape, and a byte span that fits shape and dtype.
func parseHeader(hdr []byte) ([]entry, map[string]string, error) {
	if !utf8.Valid(hdr) {
		return nil, nil, fmt.Errorf("header is not valid UTF-8: %w", ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("header is not JSON: %v: %w", err, ErrInvalid)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("header is not a JSON object (starts with %v): %w", tok, ErrInvalid)
	}
	var (
		entries  []entry
		metadata map[string]string
		seen     = make(map[string]bool)
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header is not JSON: %v: %w", err, ErrInvalid)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("header is not JSON: unexpected %v: %w", tok, ErrInvalid)
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("header has the name %q twice: %w", name, ErrInvalid)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("header is not JSON: value of %q: %v: %w", name, err, ErrInvalid)
		}
		if name == MetadataKey {
			if metadata, err = parseMetadata(raw); err != nil {
				return nil, nil, err
			}
			continue
		}
		e, err := parseEntry(name, raw)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("header is not JSON: %v: %w", err, ErrInvalid)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("unexpected %v", tok)
		}
		return nil, nil, fmt.Errorf("header has data after its JSON object: %v: %w", err, ErrInvalid)
	}
	return entries, metadata, nil
}

// parseMetadata decodes the "__metadata__" object: null or an object of
// string values.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", MetadataKey, ErrInvalid)
	}
	md := make(map[string]string, len(obj))
	for k, v := range obj {
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return nil, fmt.Errorf("%s value of %q is %s, not a string: %w", MetadataKey, k, describe(v), ErrInvalid)
		}
		md[k] = s
	}
	return md, nil
}

// parseEntry decodes and checks one tensor entry.
func parseEntry(name string, raw json.RawMessage) (entry, error) {
	var info struct {
		DType       *string           `json:"dtype"`
		Shape       []json.RawMessage `json:"shape"`
		DataOffsets []json.RawMessage `json:"data_offsets"`
	}
	if len(raw) == 0 || raw[0] != '{' {
		return entry{}, fmt.Errorf("tensor %q: entry %s is not a JSON object: %w", name, describe(raw), ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		return entry{}, fmt.Errorf("tensor %q: bad entry %s: %v: %w", name, describe(raw), err, ErrInvalid)
	}
	switch {
	case info.DType == nil:
		return entry{}, fmt.Errorf("tensor %q: no dtype: %w", name, ErrInvalid)
	case info.Shape == nil:
		return entry{}, fmt.Errorf("tensor %q: no shape: %w", name, ErrInvalid)
	case len(info.DataOffsets) != 2:
		return entry{}, fmt.Errorf("tensor %q: data_offsets must be two numbers, got %d: %w", name, len(info.DataOffsets), ErrInvalid)
	}
	e := entry{name: name, dtype: *info.DType, shape: make([]int, len(info.Shape))}
	_, size, ok := dtypeInfo(e.dtype)
	if !ok {
		return entry{}, fmt.Errorf("tensor %q: unknown dtype %q: %w", name, e.dtype, ErrInvalid)
	}
	nbytes := uint64(size)
	for i, num := range info.Shape {
		d, err := strconv.ParseUint(string(num), 10, 63)
		if err != nil {
			return entry{}, fmt.Errorf("tensor %q: dimension %s is not a non-negative integer: %w", name, num, ErrInvalid)
		}
		e.shape[i] = int(d)
		var hi uint64
		if hi, nbytes = bits.Mul64(nbytes, d); hi != 0 || nbytes > uint64(maxInt) {
			return entry{}, fmt.Errorf("tensor %q: shape %s overflows: %w", name, describe(raw), ErrInvalid)
		}
	}
	offs := [2]uint64{}
	for i, num := range info.DataOffsets {
		o, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return entry{}, fmt.Errorf("tensor %q: offset %s is not a non-negative integer: %w", name, num, ErrInvalid)
		}
		offs[i] = o
	}
	e.begin, e.end = offs[0], offs[1]
	if e.end < e.begin {
		return entry{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] end before they begin: %w", name, e.begin, e.end, ErrInvalid)
	}
	if e.end-e.begin != nbytes {
		return entry{}, fmt.Errorf("tensor %q: %s%v needs %d bytes but data_offsets [%d, %d] span %d: %w",
			name, e.dtype, e.shape, nbytes, e.begin, e.end, e.end-e.begin, ErrInvalid)
	}
	return e, nil
}

// checkLayout sorts entries by offset and checks that they tile a buffer of
// size bytes exactly.
func checkLayout(entries []entry, size uint64) error {
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		if a.end != b.end {
			return a.end < b.end
		}
		return a.name < b.name
	})
	var pos uint64
	prev := ""
	for _, e := range entries {
		switch {
		case e.end > size:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] out of range of the %d-byte buffer: %w",
				e.name, e.begin, e.end, size, ErrInvalid)
		case e.begin < pos:
			return fmt.Errorf("tensor %q at [%d, %d] overlaps tensor %q ending at %d: %w",
				e.name, e.begin, e.end, prev, pos, ErrInvalid)
		case e.begin > pos:
			return fmt.Errorf("hole of %d bytes in the buffer before tensor %q at [%d, %d]: %w",
				e.begin-pos, e.name, e.begin, e.end, ErrInvalid)
		}
		pos, prev = e.end, e.name
	}
	if pos != size {
		return fmt.Errorf("buffer has %d bytes after the last tensor (tensors end at %d of %d): %w",
			size-pos, pos, size, ErrInvalid)
	}
	return nil
}

// describe is used in error messages to shorten long byte strings.
func describe(b []byte) string {
	const max = 64
	if len(b) > max {
		return strings.ToValidUTF8(string(b[:max]), "?") + "…"
	}
	return strings.ToValidUTF8(string(b), "?")
}
