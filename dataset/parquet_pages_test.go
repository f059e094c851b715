package dataset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// compact builds Thrift compact-protocol bytes for the page header tests.
type compact struct {
	b    []byte
	last []int16 // the previous field id of each open struct
}

func (c *compact) uvarint(v uint64) *compact {
	c.b = binary.AppendUvarint(c.b, v)
	return c
}

func (c *compact) field(id int16, typ byte) *compact {
	if len(c.last) == 0 {
		c.last = append(c.last, 0)
	}
	top := &c.last[len(c.last)-1]
	if d := id - *top; d > 0 && d < 16 {
		c.b = append(c.b, byte(d)<<4|typ)
	} else {
		c.b = append(c.b, typ)
		c.uvarint(uint64(uint16(id<<1) ^ uint16(id>>15)))
	}
	*top = id
	return c
}

func (c *compact) i32(id int16, v int32) *compact {
	return c.field(id, tI32).uvarint(uint64(uint32(v<<1) ^ uint32(v>>31)))
}

func (c *compact) binary(id int16, n uint64, data []byte) *compact {
	c.field(id, tBinary).uvarint(n)
	c.b = append(c.b, data...)
	return c
}

func (c *compact) begin(id int16) *compact {
	c.field(id, tStruct)
	c.last = append(c.last, 0)
	return c
}

func (c *compact) end() *compact {
	c.b = append(c.b, 0)
	c.last = c.last[:len(c.last)-1]
	return c
}

// page is a data page header (type 0, with a data_page_header holding
// num_values and encodings, and min/max statistics) and n bytes of data.
func page(uncompressed, compressed int32, data []byte) []byte {
	c := &compact{}
	c.i32(1, 0).i32(2, uncompressed).i32(3, compressed)
	c.begin(5).i32(1, 7).i32(2, 0).i32(3, 3).i32(4, 3)
	c.begin(5).binary(5, 2, []byte("hi")).binary(6, 1, []byte("a")).end()
	c.end().end()
	return append(c.b, data...)
}

// listPage is a page of 10 bytes whose header holds, before its sizes, an
// extra field (id 1, which readPageHeader does not read) that is a list of
// n elements of type elem, in the compact protocol's form: the count in the
// header byte's high nibble below 15, else 15 there and the count as a
// varint after it; each i32 or i64 a zigzag varint, each boolean a byte (1
// true, 2 false). Misreading the list's length leaves the reader inside
// its elements when it reads the sizes that follow.
func listPage(n int, elem byte) []byte {
	c := &compact{}
	c.field(1, tList)
	if n < 15 {
		c.b = append(c.b, byte(n)<<4|elem)
	} else {
		c.b = append(c.b, 0xf0|elem)
		c.uvarint(uint64(n))
	}
	for i := range n {
		switch elem {
		case tBoolTrue, tBoolFalse:
			c.b = append(c.b, byte(1+i%2))
		default:
			c.uvarint(uint64(2 * (i + 1))) // 1, 2, … zigzag-encoded
		}
	}
	c.i32(2, 10).i32(3, 10).end()
	return append(c.b, make([]byte, 10)...)
}

func TestCheckChunkPages(t *testing.T) {
	data := func(n int) []byte { return make([]byte, n) }
	zstdFrame := func(contentSize uint32, n int) []byte {
		b := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
		b = append(b, 0x80|0x20) // single segment, 4-byte content size
		b = binary.LittleEndian.AppendUint32(b, contentSize)
		return append(b, make([]byte, n-len(b))...)
	}
	// frame is a whole zstd frame claiming contentSize: a 4-byte content
	// size, a window descriptor, an optional checksum, and one last block,
	// raw (its bytes) or RLE (one byte).
	frame := func(contentSize uint32, checksum, rle bool, raw string) []byte {
		desc := byte(0x80)
		if checksum {
			desc |= 0x04
		}
		b := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
		b = append(b, desc, 0x58)
		b = binary.LittleEndian.AppendUint32(b, contentSize)
		if rle {
			bh := 1 | 1<<1 | uint32(contentSize)<<3
			b = append(b, byte(bh), byte(bh>>8), byte(bh>>16), raw[0])
		} else {
			bh := 1 | uint32(len(raw))<<3
			b = append(append(b, byte(bh), byte(bh>>8), byte(bh>>16)), raw...)
		}
		if checksum {
			b = append(b, 1, 2, 3, 4)
		}
		return b
	}
	zstdPage := func(uncompressed int32, fs ...[]byte) []byte {
		data := slices.Concat(fs...)
		return page(uncompressed, int32(len(data)), data)
	}
	skippable := append(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0x184D2A5F), 3), 7, 7, 7)
	deep := &compact{}
	deep.i32(2, 10).i32(3, 0)
	for range maxThriftDepth + 2 {
		deep.begin(9)
	}
	for range maxThriftDepth + 2 {
		deep.end()
	}
	deep.end()
	tests := []struct {
		name  string
		chunk []byte
		codec format.CompressionCodec
		err   string // "" for a chunk that passes
	}{
		{"two pages", append(page(40, 30, data(30)), page(10, 10, data(10))...), format.Uncompressed, ""},
		{"an empty page", page(0, 0, nil), format.Uncompressed, ""},
		{"zstd of the page's size", page(64, 16, zstdFrame(64, 16)), format.Zstd, ""},
		{"zstd smaller than the page", page(64, 16, zstdFrame(60, 16)), format.Zstd, ""},
		{"compressed beyond the chunk", page(40, 31, data(30)), format.Uncompressed, "31 compressed bytes, 30 left"},
		{"second page beyond the chunk", append(page(40, 30, data(30)), page(10, 11, data(10))...), format.Uncompressed, "page 2"},
		{"negative compressed size", page(40, -1, data(30)), format.Uncompressed, "-1 compressed bytes"},
		{"expands past the bound", page(2<<20, 30, data(30)), format.Uncompressed, "2097152 bytes uncompressed from 30"},
		{"zstd frame larger than the page", page(64, 16, zstdFrame(1<<28, 16)), format.Zstd, "zstd frames of 268435456 bytes in a page of 64"},
		{"a frame header of six bytes claiming more", page(64, 6, []byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, 200}), format.Zstd, "zstd frames of 200 bytes in a page of 64"},
		{"two zstd frames within the page", zstdPage(64, frame(30, false, false, "ab"), frame(34, false, true, "c")), format.Zstd, ""},
		{"a second zstd frame larger than the page", zstdPage(64, frame(30, false, false, "ab"), frame(1<<28, false, true, "c")), format.Zstd, "zstd frames of 268435486 bytes in a page of 64"},
		{"a large frame after a skippable one and a checksum", zstdPage(64, skippable, frame(30, true, true, "a"), frame(1<<28, false, false, "b")), format.Zstd, "zstd frames of 268435486 bytes"},
		{"a statistic longer than the chunk", (&compact{}).i32(2, 1).i32(3, 1).begin(5).binary(5, 1<<28, nil).b, format.Uncompressed, "a field of 268435456 bytes"},
		// The count of a list of 15 elements or more is a varint after the
		// header byte (its size nibble 15): here 2^25-1.
		{"a list longer than the chunk", append((&compact{}).i32(2, 1).i32(3, 1).field(8, tList).b, 0xf5, 0xff, 0xff, 0xff, 0x0f), format.Uncompressed, "a list of 33554431 elements, 0 bytes left"},
		{"a list of 14 i32, its count in the header byte", listPage(14, tI32), format.Uncompressed, ""},
		{"a list of 15 i32, its count a varint", listPage(15, tI32), format.Uncompressed, ""},
		{"a list of 20 i32, its count a varint", listPage(20, tI32), format.Uncompressed, ""},
		{"a list of 20 i64, its count a varint", listPage(20, tI64), format.Uncompressed, ""},
		// A list's booleans take a byte each (1 true, 2 false), unlike a
		// struct's, whose field type is the value.
		{"a list of 3 booleans", listPage(3, tBoolTrue), format.Uncompressed, ""},
		{"a list of 20 booleans, its count a varint", listPage(20, tBoolFalse), format.Uncompressed, ""},
		{"a list of 3 booleans cut off", append((&compact{}).field(1, tList).b, 0x31, 1, 2), format.Uncompressed, "cut off"},
		{"nested too deep", deep.b, format.Uncompressed, "nested too deep"},
		{"an unknown type", []byte{0x1d, 0x00}, format.Uncompressed, "unknown thrift type 13"},
		{"no sizes", (&compact{}).i32(1, 0).end().b, format.Uncompressed, "no page sizes"},
		{"cut off", page(40, 30, nil)[:5], format.Uncompressed, "cut off"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkChunkPages(tc.chunk, tc.codec)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("a good chunk: %v", err)
			case tc.err != "" && err == nil:
				t.Errorf("no error, want one saying %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Errorf("error %q does not say %q", err, tc.err)
			}
		})
	}
}

// TestReadPageHeaderSkipsLists reads page headers that carry, before
// their sizes, a list that readPageHeader skips: lists short enough for the
// count to sit in the header byte and long enough to need a varint (15 is
// the first), of varints and of booleans (a byte each in a list). Each
// must be skipped exactly: the sizes that follow read as written (10 and
// 10), and the header ends where the page's data begins. A reader that
// took 15 for a count, or a list's booleans for no bytes, stops inside the
// list and reads its elements as fields.
func TestReadPageHeaderSkipsLists(t *testing.T) {
	names := map[byte]string{tI32: "i32", tI64: "i64", tBoolTrue: "true", tBoolFalse: "false"}
	for _, elem := range []byte{tI32, tI64, tBoolTrue, tBoolFalse} {
		for _, n := range []int{0, 1, 3, 14, 15, 16, 20, 200} {
			b := listPage(n, elem)
			h, err := readPageHeader(b)
			if err != nil {
				t.Errorf("a list of %d %s: %v", n, names[elem], err)
				continue
			}
			if h.uncompressed != 10 || h.compressed != 10 || h.size != len(b)-10 {
				t.Errorf("a list of %d %s: sizes %d and %d, a header of %d bytes; want 10 and 10, %d bytes",
					n, names[elem], h.uncompressed, h.compressed, h.size, len(b)-10)
			}
		}
	}
}

// TestZstdContentSize reads the content size of each header form.
func TestZstdContentSize(t *testing.T) {
	magic := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
	for _, tc := range []struct {
		name   string
		header []byte
		want   uint64
		ok     bool
	}{
		{"single segment, 1 byte", []byte{0x20, 200}, 200, true},
		{"2 bytes, plus 256", []byte{0x40, 0x00, 0x10, 0x00}, 0x10 + 256, true},
		{"4 bytes after a window and a 1-byte dictionary id", []byte{0x81, 0x00, 0x07, 1, 2, 3, 4}, 0x04030201, true},
		{"8 bytes", []byte{0xe0, 1, 0, 0, 0, 0, 0, 0, 1}, 1<<56 | 1, true},
		{"not given", []byte{0x00, 0x00}, 0, false},
		{"cut off", []byte{0x80, 0x00, 1, 2}, 0, false},
	} {
		got, ok := zstdContentSize(append(append([]byte(nil), magic...), tc.header...))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := zstdContentSize([]byte("PAR1 not zstd")); ok {
		t.Error("a content size read from bytes without the magic number")
	}
}

// TestReadParquetChecksPages corrupts the first page header of a real
// file's text column: ReadParquet refuses it with checkPages' error, before
// parquet-go reads the page.
func TestReadParquetChecksPages(t *testing.T) {
	dir := t.TempDir()
	good := writeParquet(t, dir, "session1.parquet", fixtureRows, hfOptions(&parquet.Zstd)...)
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	start := chunkStart(&pf.Metadata().RowGroups[0].Columns[0].MetaData)
	if _, err := readPageHeader(b[start:]); err != nil {
		t.Fatalf("the good file's first page header: %v", err)
	}
	b[start] = 0x1d // field 1 of type 13, which Thrift does not have
	bad := filepath.Join(dir, "session2.parquet")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadParquet(bad, 2)
	if err == nil || !strings.Contains(err.Error(), "column text: page 1 (byte 0 of the chunk): header: unknown thrift type 13") {
		t.Errorf("ReadParquet of a corrupt page header: %v", err)
	}
}

// FuzzZstdClaimedSize walks arbitrary bytes as zstd frames: it must not
// panic or loop, and its sum includes the first frame's own claim.
func FuzzZstdClaimedSize(f *testing.F) {
	magic := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
	f.Add(append(append([]byte(nil), magic...), 0x90, 0x58, 0, 0, 0, 0xc0, 0x09, 0, 0, 'x'))
	f.Add(append(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0x184D2A50), 1), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		sum := zstdClaimedSize(b)
		if first, ok := zstdContentSize(b); ok && sum < first {
			t.Errorf("claims %d in all, %d in the first frame", sum, first)
		}
	})
}

// zstdContentSize (tests) returns the Frame_Content_Size in the header of the zstd
// frame that b starts with, and false where b does not start with a frame
// header that gives one.
func zstdContentSize(b []byte) (uint64, bool) {
	f, ok := readZstdFrameHeader(b)
	return f.contentSize, ok && f.hasContentSize
}

// TestCheckChunkPagesDecodedSize: a page of every codec parquet-go
// decodes without a bound (gzip and brotli to their end, zstd frames
// without a content size, snappy to the length it declares) is refused
// when its data decodes to more than its header's uncompressed size, and
// passes at its true size. Each bomb here is a few hundred bytes that
// decode to 1 MiB or more, within maxPageExpansion of their size claims.
func TestCheckChunkPagesDecodedSize(t *testing.T) {
	const big = 1 << 20
	zeros := make([]byte, big)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(zeros)
	zw.Close()
	var br bytes.Buffer
	bw := brotli.NewWriter(&br)
	bw.Write(zeros)
	bw.Close()
	sn := snappy.Encode(nil, zeros[:4096])
	// A zstd frame without a content size (descriptor 0: a window byte
	// follows) of RLE blocks, 4 bytes each for 128 KiB, the last one last.
	zs := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38}
	for i := range 16 {
		bh := uint32(128<<10)<<3 | 1<<1
		if i == 15 {
			bh |= 1
		}
		zs = append(zs, byte(bh), byte(bh>>8), byte(bh>>16), 'a')
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	zsGood := enc.EncodeAll(zeros[:5000], nil)
	enc.Close()
	for _, tc := range []struct {
		name  string
		codec format.CompressionCodec
		data  []byte
		whole int
	}{
		{"gzip", format.Gzip, gz.Bytes(), big},
		{"brotli", format.Brotli, br.Bytes(), big},
		{"snappy", format.Snappy, sn, 4096},
		{"zstd RLE blocks", format.Zstd, zs, 16 << 17},
		{"zstd", format.Zstd, zsGood, 5000}, // its frame claims its size: refused on the claim
	} {
		t.Run(tc.name, func(t *testing.T) {
			small := int32(min(len(tc.data), tc.whole-1))
			err := checkChunkPages(page(small, int32(len(tc.data)), tc.data), tc.codec)
			want := fmt.Sprintf("data decodes to more than the page's %d bytes", small)
			if tc.name == "zstd" {
				want = fmt.Sprintf("zstd frames of %d bytes in a page of %d", tc.whole, small)
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%d bytes of %s that decode to %d in a page of %d: %v", len(tc.data), tc.name, tc.whole, small, err)
			}
			if tc.whole <= max(maxPageExpansion*len(tc.data), 1<<20) {
				if err := checkChunkPages(page(int32(tc.whole), int32(len(tc.data)), tc.data), tc.codec); err != nil {
					t.Errorf("at its true size %d: %v", tc.whole, err)
				}
			}
		})
	}
}

// TestReadParquetRefusesADecompressionBomb replaces the zstd text page of
// a real file by a frame of the same length that claims no content size
// and is all RLE blocks (4 bytes for 128 KiB each, some 380 MiB in all),
// keeping the page header's sizes and fixing its CRC: ReadParquet refuses
// it before parquet-go decodes it, allocating next to nothing.
func TestReadParquetRefusesADecompressionBomb(t *testing.T) {
	text := make([]byte, 12000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range text {
		text[i] = byte('a' + r.IntN(26)) // incompressible enough for a page of ~12 kB
	}
	p := writeParquet(t, t.TempDir(), "session1.parquet", []hfRow{{string(text), 0}}, hfOptions(&parquet.Zstd)...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	off := int(chunkStart(&pf.Metadata().RowGroups[0].Columns[0].MetaData))
	h, err := readPageHeader(b[off:])
	if err != nil {
		t.Fatal(err)
	}
	n := int(h.compressed)
	bomb := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38} // no content size; a window byte
	rle := uint32(128<<10)<<3 | 1<<1
	for len(bomb)+4 <= n-3 {
		bomb = append(bomb, byte(rle), byte(rle>>8), byte(rle>>16), 'a')
	}
	last := uint32(n-len(bomb)-3)<<3 | 1 // a raw last block fills the page
	bomb = append(bomb, byte(last), byte(last>>8), byte(last>>16))
	bomb = append(bomb, make([]byte, n-len(bomb))...)
	var ph format.PageHeader
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[off:off+h.size], &ph); err != nil {
		t.Fatal(err)
	}
	// The CRC's varint may change length: vary the raw block's last four
	// bytes until the header is as long as before.
	var hdr []byte
	for i := uint32(0); len(hdr) != h.size; i++ {
		binary.LittleEndian.PutUint32(bomb[n-4:], i)
		ph.CRC = int32(crc32.ChecksumIEEE(bomb))
		if hdr, err = thrift.Marshal(new(thrift.CompactProtocol), &ph); err != nil {
			t.Fatal(err)
		}
	}
	copy(b[off:], hdr)
	copy(b[off+h.size:], bomb)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ReadParquet(p, 1)
	runtime.ReadMemStats(&after)
	if want := "column text: page 1 (byte 0 of the chunk): zstd data decodes to more than the page's"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ReadParquet of a zstd bomb: %v, want an error saying %q", err, want)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("reading a %d-byte file allocated %d MiB", len(b), got>>20)
	}
}
