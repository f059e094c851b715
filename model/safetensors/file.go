package safetensors

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
)

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// maxDecompressed bounds the size of a decompressed file, so that a corrupt
// or hostile frame header cannot make Load allocate without limit.
const maxDecompressed = 1 << 34 // 16 GiB

// Save writes tensors and metadata (see Write) to path atomically: into a
// temporary file in the same directory, synced to disk, then renamed over
// path. With compress, the whole safetensors byte stream is compressed with
// zstd (conventionally the path then ends in ".safetensors.zst"). The file is
// created with permissions 0644.
func Save(path string, tensors []Tensor, metadata map[string]string, compress bool) (err error) {
	// Validate before touching the file system.
	if _, _, err := header(tensors, metadata); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	// A link is kept and its target replaced, as metrics.WriteAtomic does,
	// rather than replaced by a file beside it.
	target := path
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
		if resolved, rerr := filepath.EvalSymlinks(path); rerr == nil {
			target = resolved
		}
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	var w io.Writer = bw
	var enc *zstd.Encoder
	if compress {
		if enc, err = zstd.NewWriter(bw, zstd.WithEncoderConcurrency(1)); err != nil {
			return fmt.Errorf("save %s: zstd: %w", path, err)
		}
		w = enc
	}
	if err = Write(w, tensors, metadata); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if enc != nil {
		if err = enc.Close(); err != nil {
			return fmt.Errorf("save %s: zstd: %w", path, err)
		}
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err = os.Rename(tmp, target); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	// Make the rename durable too; not every file system can sync a
	// directory, so a failure here is not reported.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Load reads the safetensors file at path, decompressing it first when it
// starts with the zstd magic number, and returns its tensors (in buffer
// order) and metadata; see Read. Every error names path.
func Load(path string) ([]Tensor, map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", path, err)
	}
	if bytes.HasPrefix(data, zstdMagic) {
		if data, err = decompress(data); err != nil {
			return nil, nil, fmt.Errorf("load %s: %w", path, err)
		}
	}
	tensors, metadata, err := Read(data)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", path, err)
	}
	return tensors, metadata, nil
}

// maxWindow is the largest zstd window decoded: the reference decoder's
// default limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 2²⁷), above what any level
// of the zstd command or of this package's encoder (8 MiB) writes without
// --long, so that a frame header cannot claim gigabytes of history.
const maxWindow = 1 << 27

// decompress decodes a whole zstd stream; a truncated or corrupt stream is
// an error wrapping ErrInvalid. It streams: DecodeAll allocates a frame's
// declared content size up front, so 14 bytes that claimed 3 GiB made it
// allocate 3 GiB before it found the frame empty. The output now grows
// only with what the stream really holds.
func decompress(data []byte) ([]byte, error) {
	dec, err := zstd.NewReader(bytes.NewReader(data),
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxWindow),
		zstd.WithDecoderMaxMemory(maxDecompressed))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	defer dec.Close()
	out, err := io.ReadAll(io.LimitReader(dec, maxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("zstd stream: %v: %w", err, ErrInvalid)
	}
	if len(out) > maxDecompressed {
		return nil, fmt.Errorf("zstd stream: more than %d bytes decompressed: %w", int64(maxDecompressed), ErrInvalid)
	}
	return out, nil
}
