package dataset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// parquet-go sizes its buffers from what each page header claims (the
// compressed and uncompressed sizes, the length of a statistic), before it
// reads the bytes: a corrupt header in a 1 kB file made it allocate 1.2 GB
// and then fail. checkPages walks every column chunk's page headers first,
// with a reader of its own that allocates nothing a header asks for, and
// refuses any size that its chunk cannot hold.

// maxPageExpansion bounds a page's uncompressed size by its compressed
// size: far above what text compresses to (zstd at its strongest stays
// under 20× on this data), far below what a corrupt header can claim.
const maxPageExpansion = 1024

// maxThriftDepth bounds the nesting of a page header's structs and lists
// (the format nests three deep), so that a corrupt one cannot recurse
// without end.
const maxThriftDepth = 16

// pageHeader is what checkPages reads of a parquet PageHeader.
type pageHeader struct {
	uncompressed, compressed int64
	size                     int // bytes of the header itself
}

// checkPages checks the page headers of every column chunk of pf, read
// from r: each page lies within its chunk and its uncompressed size is
// within maxPageExpansion of its compressed one (and 1 MiB).
func checkPages(r io.ReaderAt, pf *parquet.File) error {
	for i, rg := range pf.Metadata().RowGroups {
		for _, cc := range rg.Columns {
			md := cc.MetaData
			start := chunkStart(&md)
			// checkColumnChunks has checked that the chunk lies in the file.
			chunk := make([]byte, md.TotalCompressedSize)
			if _, err := r.ReadAt(chunk, start); err != nil {
				return fmt.Errorf("row group %d: column %s: %w", i, strings.Join(md.PathInSchema, "."), err)
			}
			if err := checkChunkPages(chunk, md.Codec); err != nil {
				return fmt.Errorf("row group %d: column %s: %w", i, strings.Join(md.PathInSchema, "."), err)
			}
		}
	}
	return nil
}

// checkChunkPages walks the pages of one column chunk's bytes compressed
// with codec: each page's data must decode to no more than its header
// says, and with zstd the content sizes its frames claim must fit it too.
func checkChunkPages(chunk []byte, codec format.CompressionCodec) error {
	for off, page := 0, 1; off < len(chunk); page++ {
		h, err := readPageHeader(chunk[off:])
		if err != nil {
			return fmt.Errorf("page %d (byte %d of the chunk): header: %w", page, off, err)
		}
		left := int64(len(chunk) - off - h.size)
		if h.compressed < 0 || h.compressed > left {
			return fmt.Errorf("page %d (byte %d of the chunk): %d compressed bytes, %d left in the chunk", page, off, h.compressed, left)
		}
		if h.uncompressed < 0 || h.uncompressed > max(maxPageExpansion*h.compressed, 1<<20) {
			return fmt.Errorf("page %d (byte %d of the chunk): %d bytes uncompressed from %d", page, off, h.uncompressed, h.compressed)
		}
		data := chunk[off+h.size : off+h.size+int(h.compressed)]
		if codec == format.Zstd && len(data) > 0 {
			if claim := zstdClaimedSize(data); claim > uint64(h.uncompressed) {
				return fmt.Errorf("page %d (byte %d of the chunk): zstd frames of %d bytes in a page of %d", page, off, claim, h.uncompressed)
			}
		}
		if err := pageDecodesWithin(codec, data, h.uncompressed); err != nil {
			return fmt.Errorf("page %d (byte %d of the chunk): %w", page, off, err)
		}
		off += h.size + int(h.compressed)
	}
	return nil
}

// pageDecodesWithin refuses a page whose data decodes to more than its
// header's uncompressed size. parquet-go decodes a gzip or brotli page
// until its end, a zstd frame without a content size until its last
// block, and allocates what a snappy block declares, none of them bounded
// by the header: an RLE block of 4 bytes gives 128 KiB of zstd, and a
// 100 kB file took gigabytes. The decoders here stop one byte past the
// size (zstd holds at most max(size, 8 MiB), its usual largest window).
// Data that does not decode is left to parquet-go, which says so.
func pageDecodesWithin(codec format.CompressionCodec, data []byte, size int64) error {
	more := fmt.Errorf("%s data decodes to more than the page's %d bytes", strings.ToLower(codec.String()), size)
	var r io.Reader
	switch codec {
	case format.Snappy:
		if n, err := snappy.DecodedLen(data); err == nil && int64(n) > size {
			return more
		}
		return nil
	case format.Zstd:
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(max(size, 8<<20))))
		if err != nil {
			return err
		}
		defer dec.Close()
		out, err := dec.DecodeAll(data, nil)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) || int64(len(out)) > size {
			return more
		}
		return nil
	case format.Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil
		}
		r = zr
	case format.Brotli:
		r = brotli.NewReader(bytes.NewReader(data))
	default:
		return nil
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(r, size+1))
	if n > size {
		return more
	}
	return nil
}

// zstdClaimedSize sums the content sizes that the zstd frames of b claim in
// their headers (a frame without one claims nothing), walking each frame's
// blocks to find the next frame and passing over skippable frames, up to
// the first thing that does not parse (where the decoder stops too). The
// decoder allocates a frame's claim before it decodes the frame, so a
// page's frames must not claim more than the page holds: checking only the
// first frame let a second one claim gigabytes.
func zstdClaimedSize(b []byte) uint64 {
	var sum uint64
	for len(b) >= 4 {
		if binary.LittleEndian.Uint32(b)&0xFFFFFFF0 == 0x184D2A50 { // skippable
			if len(b) < 8 {
				break
			}
			n := uint64(binary.LittleEndian.Uint32(b[4:]))
			if n > uint64(len(b)-8) {
				break
			}
			b = b[8+n:]
			continue
		}
		f, ok := readZstdFrameHeader(b)
		if !ok {
			break
		}
		if f.hasContentSize {
			sum += f.contentSize
		}
		b = b[f.size:]
		for last := false; !last; { // blocks (RFC 8878, 3.1.1.2)
			if len(b) < 3 {
				return sum
			}
			bh := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
			last = bh&1 != 0
			size := int(bh >> 3)
			switch (bh >> 1) & 3 {
			case 1: // RLE: one byte, repeated size times
				size = 1
			case 3: // reserved
				return sum
			}
			if size > len(b)-3 {
				return sum
			}
			b = b[3+size:]
		}
		if f.checksum {
			if len(b) < 4 {
				break
			}
			b = b[4:]
		}
	}
	return sum
}

// zstdFrameHeader is what the decoder learns from a zstd frame header
// before its first block.
type zstdFrameHeader struct {
	size           int    // bytes of the header, magic included
	contentSize    uint64 // Frame_Content_Size, where hasContentSize
	hasContentSize bool
	checksum       bool // a 4-byte checksum follows the last block
}

// readZstdFrameHeader reads the header of the zstd frame that b starts
// with (RFC 8878, 3.1.1.1); false where b does not start with a whole one.
func readZstdFrameHeader(b []byte) (zstdFrameHeader, bool) {
	const magic = 0xFD2FB528
	var f zstdFrameHeader
	if len(b) < 5 || binary.LittleEndian.Uint32(b) != magic {
		return f, false
	}
	desc := b[4]
	singleSegment := desc&0x20 != 0
	f.checksum = desc&0x04 != 0
	pos := 5
	if !singleSegment {
		pos++ // Window_Descriptor
	}
	pos += []int{0, 1, 2, 4}[desc&3] // Dictionary_ID
	n := []int{0, 2, 4, 8}[desc>>6]
	if n == 0 && singleSegment {
		n = 1
	}
	if len(b) < pos+n {
		return f, false
	}
	for i := n - 1; i >= 0; i-- {
		f.contentSize = f.contentSize<<8 | uint64(b[pos+i])
	}
	if n == 2 {
		f.contentSize += 256
	}
	f.hasContentSize = n > 0
	f.size = pos + n
	return f, true
}

// errShortHeader is a page header cut off by the end of its chunk.
var errShortHeader = errors.New("cut off by the end of the chunk")

// thriftReader reads Thrift's compact protocol from a byte slice, skipping
// what it does not need without allocating.
type thriftReader struct {
	b   []byte
	off int
}

func (t *thriftReader) byte() (byte, error) {
	if t.off >= len(t.b) {
		return 0, errShortHeader
	}
	c := t.b[t.off]
	t.off++
	return c, nil
}

// uvarint reads an unsigned LEB128 varint of at most 64 bits.
func (t *thriftReader) uvarint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		c, err := t.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("varint longer than 64 bits")
}

// varint reads a zigzag-encoded signed varint (i16, i32 and i64 alike).
func (t *thriftReader) varint() (int64, error) {
	u, err := t.uvarint()
	return int64(u>>1) ^ -int64(u&1), err
}

// skipBytes skips n bytes, which must be there.
func (t *thriftReader) skipBytes(n uint64) error {
	if n > uint64(len(t.b)-t.off) {
		return fmt.Errorf("a field of %d bytes, %d left: %w", n, len(t.b)-t.off, errShortHeader)
	}
	t.off += int(n)
	return nil
}

// Thrift compact protocol types.
const (
	tBoolTrue, tBoolFalse, tByte, tI16, tI32, tI64, tDouble, tBinary, tList, tSet, tMap, tStruct = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
)

// skip skips a value of type typ.
func (t *thriftReader) skip(typ byte, depth int) error {
	if depth > maxThriftDepth {
		return errors.New("nested too deep")
	}
	switch typ {
	case tBoolTrue, tBoolFalse:
		return nil // in a struct the type is the value
	case tByte:
		_, err := t.byte()
		return err
	case tI16, tI32, tI64:
		_, err := t.uvarint()
		return err
	case tDouble:
		return t.skipBytes(8)
	case tBinary:
		n, err := t.uvarint()
		if err != nil {
			return err
		}
		return t.skipBytes(n)
	case tList, tSet:
		h, err := t.byte()
		if err != nil {
			return err
		}
		n, elem := uint64(h>>4), h&0x0f
		if n == 15 {
			if n, err = t.uvarint(); err != nil {
				return err
			}
		}
		if n > uint64(len(t.b)-t.off) { // every element takes a byte at least
			return fmt.Errorf("a list of %d elements, %d bytes left: %w", n, len(t.b)-t.off, errShortHeader)
		}
		for range n {
			if elem == tBoolTrue || elem == tBoolFalse {
				elem = tByte // a list's booleans are a byte each
			}
			if err := t.skip(elem, depth+1); err != nil {
				return err
			}
		}
		return nil
	case tMap:
		n, err := t.uvarint()
		if err != nil || n == 0 {
			return err
		}
		kv, err := t.byte()
		if err != nil {
			return err
		}
		if n > uint64(len(t.b)-t.off) {
			return fmt.Errorf("a map of %d entries, %d bytes left: %w", n, len(t.b)-t.off, errShortHeader)
		}
		for range n {
			if err := t.skip(kv>>4, depth+1); err != nil {
				return err
			}
			if err := t.skip(kv&0x0f, depth+1); err != nil {
				return err
			}
		}
		return nil
	case tStruct:
		return t.fields(depth+1, func(int16, byte) (bool, error) { return false, nil })
	}
	return fmt.Errorf("unknown thrift type %d", typ)
}

// fields reads a struct's fields up to its stop byte; each is passed to
// read, which returns whether it consumed the value (else it is skipped).
func (t *thriftReader) fields(depth int, read func(id int16, typ byte) (bool, error)) error {
	var id int16
	for {
		h, err := t.byte()
		if err != nil {
			return err
		}
		if h == 0 {
			return nil
		}
		typ := h & 0x0f
		if delta := h >> 4; delta != 0 {
			id += int16(delta)
		} else {
			v, err := t.varint()
			if err != nil {
				return err
			}
			id = int16(v)
		}
		done, err := read(id, typ)
		if err != nil {
			return err
		}
		if !done {
			if err := t.skip(typ, depth); err != nil {
				return err
			}
		}
	}
}

// readPageHeader reads the PageHeader at the start of b: its required
// sizes (fields 2 and 3, i32) and its length.
func readPageHeader(b []byte) (pageHeader, error) {
	t := &thriftReader{b: b}
	var h pageHeader
	var haveU, haveC bool
	err := t.fields(1, func(id int16, typ byte) (bool, error) {
		if (id == 2 || id == 3) && typ == tI32 {
			v, err := t.varint()
			if id == 2 {
				h.uncompressed, haveU = v, true
			} else {
				h.compressed, haveC = v, true
			}
			return true, err
		}
		return false, nil
	})
	if err != nil {
		return h, err
	}
	if !haveU || !haveC {
		return h, errors.New("no page sizes (fields 2 and 3)")
	}
	h.size = t.off
	return h, nil
}
