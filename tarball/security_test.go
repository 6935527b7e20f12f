package tarball_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"github.com/ocisource/ocisource/tarball"
)

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// bomb returns a gzip stream of a tar with one file of n zero bytes.
func bomb(t testing.TB, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: n}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, zeros{}, n); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestHostileArchives runs every archive case of SECURITY.md (and more):
// each must fail with the expected error, leave the target exactly as it
// was, write nothing outside it and leave no temporary directory.
func TestHostileArchives(t *testing.T) {
	inside := tarball.WithSymlinks(tarball.SymlinksInsideRoot)
	abs := func(base string) string { return filepath.ToSlash(filepath.Join(base, "outside", "abs")) }
	type tc struct {
		name    string
		archive func(t *testing.T, base string) []byte
		opts    []tarball.Option
		want    error         // sentinel the error must match
		limit   tarball.Limit // for ErrLimitExceeded: which limit
	}
	plain := func(ents ...ent) func(*testing.T, string) []byte {
		return func(t *testing.T, _ string) []byte { return tarOf(t, ents...) }
	}
	gz := func(ents ...ent) func(*testing.T, string) []byte {
		return func(t *testing.T, _ string) []byte { return gzOf(t, tarOf(t, ents...)) }
	}
	good := []ent{dirEnt("app/"), file("app/a.yaml", "a: 1\n"), file("app/b.yaml", "b: 2\n")}
	withGood := func(ents ...ent) []ent { return append(append([]ent{}, good...), ents...) }

	cases := []tc{
		// Entry names.
		{name: "dotdot prefix", archive: gz(withGood(file("../x", "x"))...), want: tarball.ErrInsecurePath},
		{name: "dotdot inside", archive: gz(withGood(file("a/../../x", "x"))...), want: tarball.ErrInsecurePath},
		{name: "dotdot resolving inside", archive: gz(file("a/../x", "x")), want: tarball.ErrInsecurePath},
		{name: "absolute", archive: func(t *testing.T, base string) []byte { return gzOf(t, tarOf(t, file(abs(base), "x"))) }, want: tarball.ErrInsecurePath},
		{name: "absolute etc", archive: gz(file("/etc/x", "x")), want: tarball.ErrInsecurePath},
		{name: "bare dotdot file", archive: gz(file("..", "x")), want: tarball.ErrInsecurePath},
		{name: "bare dotdot dir", archive: gz(dirEnt("../")), want: tarball.ErrInsecurePath},
		{name: "backslashes", archive: gz(file(`a\..\..\x`, "x")), want: tarball.ErrInsecurePath},
		{name: "volume name", archive: gz(file("C:x", "x")), want: tarball.ErrInsecurePath},
		{name: "volume name with backslash", archive: gz(file(`C:\x`, "x")), want: tarball.ErrInsecurePath},
		{name: "empty name", archive: gz(file("", "x")), want: tarball.ErrInsecurePath},
		{name: "root as a file", archive: gz(file("./.", "x")), want: tarball.ErrInsecurePath},
		{name: "dot as a file", archive: gz(file(".", "x")), want: tarball.ErrInsecurePath},

		// Symbolic links.
		{name: "symlink rejected by default", archive: gz(withGood(symlink("l", "app"))...), want: tarball.ErrUnsupportedEntry},
		{name: "symlink to etc then file below (default)", archive: gz(symlink("l", "/etc"), file("l/passwd", "x")), want: tarball.ErrUnsupportedEntry},
		{name: "symlink to etc then file below", archive: gz(symlink("l", "/etc"), file("l/passwd", "x")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "symlink to outside then file below", archive: gz(symlink("l", "../outside"), file("l/canary", "x")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "file below an inside symlink", archive: gz(dirEnt("d/"), symlink("l", "d"), file("l/x", "x")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "dir replaced by symlink out, file below", archive: gz(dirEnt("d/"), symlink("d", "../outside"), file("d/canary", "x")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "dir replaced by symlink in, file below", archive: gz(dirEnt("d/"), dirEnt("e/"), symlink("d", "e"), file("d/x", "x")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "dir replaced by file", archive: gz(dirEnt("d/"), file("d", "x")), want: tarball.ErrInsecurePath},
		{name: "symlink chain climbing", archive: gz(dirEnt("a/"), dirEnt("a/b/"), symlink("a/b/l1", ".."), symlink("a/b/l2", "l1/../.."), file("a/b/l2/x", "x")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "symlink chain one level at a time", archive: gz(symlink("a/l1", ".."), symlink("a/l2", "l1/..")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "symlink climbing one too many", archive: gz(symlink("a/b/l", "../../..")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "symlink at root to parent", archive: gz(symlink("l", "..")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "symlink with backslash target", archive: gz(symlink("l", `..\..\etc`)), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "symlink to volume", archive: gz(symlink("l", `C:/Windows`)), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "symlink empty target", archive: gz(symlink("l", "")), opts: []tarball.Option{inside}, want: tarball.ErrInvalidArchive},

		// Hard links.
		{name: "hardlink outside", archive: gz(withGood(hardlink("h", "../outside/canary"))...), want: tarball.ErrInsecurePath},
		{name: "hardlink absolute", archive: func(t *testing.T, base string) []byte {
			return gzOf(t, tarOf(t, hardlink("h", filepath.ToSlash(filepath.Join(base, "outside", "canary")))))
		}, want: tarball.ErrInsecurePath},
		{name: "hardlink to etc passwd", archive: gz(hardlink("h", "/etc/passwd")), want: tarball.ErrInsecurePath},
		{name: "hardlink to a symlink", archive: gz(file("f", "x"), symlink("l", "f"), hardlink("h", "l")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "hardlink through a symlink", archive: gz(dirEnt("d/"), file("d/f", "x"), symlink("l", "d"), hardlink("h", "l/f")), opts: []tarball.Option{inside}, want: tarball.ErrInsecurePath},
		{name: "hardlink to a file not extracted", archive: gz(hardlink("h", "keep.txt")), want: tarball.ErrInvalidArchive},
		{name: "hardlink to a later file", archive: gz(hardlink("h", "f"), file("f", "x")), want: tarball.ErrInvalidArchive},
		{name: "hardlink to a directory", archive: gz(dirEnt("d/"), hardlink("h", "d")), want: tarball.ErrInvalidArchive},
		{name: "hardlink to itself", archive: gz(file("f", "x"), hardlink("f", "f")), want: tarball.ErrInvalidArchive},

		// Entry types.
		{name: "char device", archive: gz(withGood(ent{Name: "null", Type: tar.TypeChar})...), want: tarball.ErrUnsupportedEntry},
		{name: "block device", archive: gz(ent{Name: "sda", Type: tar.TypeBlock}), want: tarball.ErrUnsupportedEntry},
		{name: "fifo", archive: gz(ent{Name: "p", Type: tar.TypeFifo}), want: tarball.ErrUnsupportedEntry},
		{name: "unknown type (e.g. socket)", archive: gz(ent{Name: "s", Type: 'Z'}), want: tarball.ErrUnsupportedEntry},
		{name: "contiguous file type", archive: gz(ent{Name: "c", Type: tar.TypeCont}), want: tarball.ErrUnsupportedEntry},

		// Sizes and counts.
		{name: "gzip bomb", archive: func(t *testing.T, _ string) []byte { return bomb(t, 64<<20) }, opts: []tarball.Option{tarball.WithMaxTotalBytes(1 << 20)}, want: tarball.ErrLimitExceeded, limit: tarball.LimitTotalBytes},
		{name: "gzip bomb per file", archive: func(t *testing.T, _ string) []byte { return bomb(t, 8<<20) }, opts: []tarball.Option{tarball.WithMaxFileBytes(1 << 20)}, want: tarball.ErrLimitExceeded, limit: tarball.LimitFileBytes},
		{name: "many files over the total", archive: gz(file("a", strings.Repeat("a", 600<<10)), file("b", strings.Repeat("b", 600<<10))), opts: []tarball.Option{tarball.WithMaxTotalBytes(1 << 20)}, want: tarball.ErrLimitExceeded, limit: tarball.LimitTotalBytes},
		{name: "header claims more than follows", archive: func(t *testing.T, _ string) []byte {
			b := tarOf(t, file("f", strings.Repeat("x", 100)))
			setHeaderSize(b, 0, 1<<20)
			return gzOf(t, b)
		}, want: tarball.ErrInvalidArchive},
		{name: "header claims less than follows", archive: func(t *testing.T, _ string) []byte {
			b := tarOf(t, file("f", strings.Repeat("x", 2000)), file("g", "y"))
			setHeaderSize(b, 0, 10)
			return gzOf(t, b)
		}, want: tarball.ErrInvalidArchive},
		{name: "header claims negative size", archive: func(t *testing.T, _ string) []byte {
			b := tarOf(t, file("f", "x"))
			copy(b[124:136], "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
			return gzOf(t, b)
		}, want: tarball.ErrInvalidArchive},
		{name: "many empty files", archive: func(t *testing.T, _ string) []byte {
			ents := make([]ent, 1001)
			for i := range ents {
				ents[i] = file(fmt.Sprintf("f%04d", i), "")
			}
			return gzOf(t, tarOf(t, ents...))
		}, opts: []tarball.Option{tarball.WithMaxEntries(1000)}, want: tarball.ErrLimitExceeded, limit: tarball.LimitEntries},
		{name: "over default entries", archive: func(t *testing.T, _ string) []byte {
			// 100,001 entries for the same directory: cheap to make and to
			// read, and only the default limit stops it.
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			tw := tar.NewWriter(zw)
			for range tarball.DefaultMaxEntries + 1 {
				writeEnt(t, tw, dirEnt("d/"))
			}
			tw.Close()
			zw.Close()
			return buf.Bytes()
		}, want: tarball.ErrLimitExceeded, limit: tarball.LimitEntries},
		{name: "implied directories count", archive: gz(file(strings.Repeat("d/", 20)+"f", "x")), opts: []tarball.Option{tarball.WithMaxEntries(10)}, want: tarball.ErrLimitExceeded, limit: tarball.LimitEntries},
		{name: "4096 directories deep", archive: gz(file(strings.Repeat("a/", 4096)+"f", "x")), want: tarball.ErrLimitExceeded, limit: tarball.LimitPathLength},
		{name: "4096 directories deep without length limit", archive: gz(file(strings.Repeat("a/", 4096)+"f", "x")), opts: []tarball.Option{tarball.WithMaxPathLength(tarball.Unlimited)}, want: tarball.ErrLimitExceeded, limit: tarball.LimitPathDepth},
		{name: "2 MiB file name", archive: func(t *testing.T, _ string) []byte {
			return gzOf(t, paxTar(t, "path", strings.Repeat("n", 2<<20), file("short", "x")))
		}, want: tarball.ErrLimitExceeded, limit: tarball.LimitHeaderBytes},
		{name: "2 MiB file name without header limit", archive: func(t *testing.T, _ string) []byte {
			return gzOf(t, paxTar(t, "path", strings.Repeat("n", 2<<20), file("short", "x")))
		}, opts: []tarball.Option{tarball.WithMaxHeaderBytes(tarball.Unlimited)}, want: tarball.ErrInvalidArchive},
		{name: "2 MiB symlink target", archive: func(t *testing.T, _ string) []byte {
			return gzOf(t, paxTar(t, "linkpath", strings.Repeat("t", 2<<20), symlink("l", "x")))
		}, opts: []tarball.Option{inside}, want: tarball.ErrLimitExceeded, limit: tarball.LimitHeaderBytes},
		{name: "long symlink target", archive: gz(symlink("l", strings.Repeat("t/", 3000))), opts: []tarball.Option{inside}, want: tarball.ErrLimitExceeded, limit: tarball.LimitPathLength},
		{name: "long hardlink target", archive: gz(file("f", "x"), hardlink("h", strings.Repeat("t/", 3000))), want: tarball.ErrLimitExceeded, limit: tarball.LimitPathLength},
		{name: "2 MiB file name, PAX limits only", archive: func(t *testing.T, _ string) []byte {
			return gzOf(t, paxTar(t, "path", strings.Repeat("n", 2<<20), file("short", "x")))
		}, opts: []tarball.Option{tarball.WithMaxHeaderBytes(tarball.Unlimited), tarball.WithMaxPathLength(tarball.Unlimited)}, want: tarball.ErrInvalidArchive},
		{name: "900 KiB file name", archive: func(t *testing.T, _ string) []byte {
			return gzOf(t, paxTar(t, "path", strings.Repeat("n", 900<<10), file("short", "x")))
		}, opts: []tarball.Option{tarball.WithMaxHeaderBytes(tarball.Unlimited)}, want: tarball.ErrLimitExceeded, limit: tarball.LimitPathLength},
		{name: "huge PAX record", archive: gz(ent{Name: "f", PAX: map[string]string{"comment": strings.Repeat("c", 512<<10)}}), want: tarball.ErrLimitExceeded, limit: tarball.LimitHeaderBytes},

		// Stream framing.
		{name: "empty input", archive: func(*testing.T, string) []byte { return nil }, want: tarball.ErrInvalidArchive},
		{name: "empty gzip", archive: func(t *testing.T, _ string) []byte { return gzOf(t, nil) }, want: tarball.ErrInvalidArchive},
		{name: "not an archive", archive: func(*testing.T, string) []byte { return []byte("hello, this is not a tar archive at all") }, want: tarball.ErrInvalidArchive},
		{name: "truncated gzip", archive: func(t *testing.T, _ string) []byte {
			b := gzOf(t, tarOf(t, good...))
			return b[:len(b)/2]
		}, want: tarball.ErrInvalidArchive},
		{name: "gzip without its trailer", archive: func(t *testing.T, _ string) []byte {
			b := gzOf(t, tarOf(t, good...))
			return b[:len(b)-8]
		}, want: tarball.ErrInvalidArchive},
		{name: "gzip with a bad checksum", archive: func(t *testing.T, _ string) []byte {
			b := gzOf(t, tarOf(t, good...))
			b[len(b)-8] ^= 0xff
			return b
		}, want: tarball.ErrInvalidArchive},
		{name: "plain tar truncated at an entry boundary", archive: func(t *testing.T, _ string) []byte {
			b := tarOf(t, good...)
			return b[:len(b)-1024]
		}, want: tarball.ErrInvalidArchive},
		{name: "plain tar truncated inside an entry", archive: func(t *testing.T, _ string) []byte {
			b := tarOf(t, file("f", strings.Repeat("x", 4000)))
			return b[:1500]
		}, want: tarball.ErrInvalidArchive},
		{name: "junk after end of tar", archive: func(t *testing.T, _ string) []byte {
			return gzOf(t, append(tarOf(t, good...), []byte("junk after the end-of-archive marker")...))
		}, want: tarball.ErrInvalidArchive},
		{name: "second archive after end of tar", archive: func(t *testing.T, _ string) []byte {
			return gzOf(t, append(tarOf(t, good...), tarOf(t, file("late", "x"))...))
		}, want: tarball.ErrInvalidArchive},
		{name: "too much zero padding after end of tar", archive: func(t *testing.T, _ string) []byte {
			return gzOf(t, append(tarOf(t, good...), make([]byte, 2<<20)...))
		}, want: tarball.ErrLimitExceeded, limit: tarball.LimitTrailingBytes},
		{name: "junk after gzip", archive: func(t *testing.T, _ string) []byte {
			return append(gzOf(t, tarOf(t, good...)), []byte("junk")...)
		}, want: tarball.ErrInvalidArchive},
		{name: "many empty gzip members", archive: func(t *testing.T, _ string) []byte {
			b := gzOf(t, tarOf(t, good...))
			empty := gzOf(t, nil)
			for range 100_000 {
				b = append(b, empty...)
			}
			return b
		}, want: tarball.ErrLimitExceeded, limit: tarball.LimitEmptyGzipMembers},
		{name: "gzip forced on plain tar", archive: plain(good...), opts: []tarball.Option{tarball.WithCompression(tarball.CompressionGzip)}, want: tarball.ErrInvalidArchive},
		{name: "plain forced on gzip", archive: gz(good...), opts: []tarball.Option{tarball.WithCompression(tarball.CompressionNone)}, want: tarball.ErrInvalidArchive},

		// Failing half-way: earlier entries were written to the temporary tree.
		{name: "failure after many good files", archive: func(t *testing.T, _ string) []byte {
			var ents []ent
			for i := range 200 {
				ents = append(ents, file("app/"+strings.Repeat("x", i%50+1)+".yaml", strings.Repeat("y", i*100)))
			}
			return gzOf(t, tarOf(t, append(ents, file("../escape", "x"))...))
		}, want: tarball.ErrInsecurePath},
		{name: "non-directory parent", archive: gz(file("f", "x"), file("f/g", "y")), want: tarball.ErrInvalidArchive},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, target := fixture(t)
			archive := c.archive(t, base)
			before := snapshot(t, base)

			st, err := tarball.Extract(context.Background(), bytes.NewReader(archive), target, c.opts...)

			t.Logf("error: %.300v", err)
			if !errors.Is(err, c.want) {
				t.Fatalf("Extract error = %v, want %v", err, c.want)
			}
			if st != nil {
				t.Errorf("Extract returned Stats %+v with an error", st)
			}
			var le *tarball.LimitError
			if c.limit != "" {
				if !errors.As(err, &le) || le.Limit != c.limit {
					t.Errorf("Extract error = %v, want a LimitError for %q", err, c.limit)
				}
			} else if errors.As(err, &le) {
				t.Errorf("Extract error = %v, want no LimitError", err)
			}
			if diff := cmp.Diff(before, snapshot(t, base)); diff != "" {
				t.Errorf("tree changed (-want +got):\n%s", diff)
			}
			if len(err.Error()) > 2000 {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
		})
	}
}
