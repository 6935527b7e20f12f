package tarball_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// ent describes one archive entry for tarOf.
type ent struct {
	Name    string
	Type    byte // tar.TypeReg when zero
	Body    string
	Link    string
	Mode    int64 // 0o644 (0o755 for directories) when zero
	ModTime time.Time
	PAX     map[string]string
}

func file(name, body string) ent       { return ent{Name: name, Body: body} }
func dirEnt(name string) ent           { return ent{Name: name, Type: tar.TypeDir} }
func symlink(name, target string) ent  { return ent{Name: name, Type: tar.TypeSymlink, Link: target} }
func hardlink(name, target string) ent { return ent{Name: name, Type: tar.TypeLink, Link: target} }

// tarOf writes a plain tar archive (with its end-of-archive marker) of the
// given entries. archive/tar's writer does not judge names, so hostile
// names go through as given.
func tarOf(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		writeEnt(t, tw, e)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeEnt(t testing.TB, tw *tar.Writer, e ent) {
	t.Helper()
	h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Link, Mode: e.Mode, ModTime: e.ModTime, PAXRecords: e.PAX}
	if h.Typeflag == 0 {
		h.Typeflag = tar.TypeReg
	}
	if h.Mode == 0 {
		h.Mode = 0o644
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
	}
	if h.Typeflag == tar.TypeReg {
		h.Size = int64(len(e.Body))
	}
	if h.ModTime.IsZero() {
		h.ModTime = time.Unix(1700000000, 0)
	}
	if len(e.PAX) > 0 || len(e.Name) > 100 || len(e.Link) > 100 {
		h.Format = tar.FormatPAX
	}
	if err := tw.WriteHeader(h); err != nil {
		t.Fatalf("header %.100q: %v", e.Name, err)
	}
	if h.Typeflag == tar.TypeReg {
		if _, err := tw.Write([]byte(e.Body)); err != nil {
			t.Fatal(err)
		}
	}
}

func gzOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// setHeaderSize rewrites the size field of the header block at off and
// fixes its checksum, to make a header lie about its data.
func setHeaderSize(b []byte, off int, size int64) {
	blk := b[off : off+512]
	copy(blk[124:136], fmt.Sprintf("%011o\x00", size))
	copy(blk[148:156], "        ")
	var sum int64
	for _, c := range blk {
		sum += int64(c)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// treeState describes a directory tree, for checking that it did not change.
type treeState map[string]string

// snapshot records every file, directory and link below root: type,
// permission bits, content digest and link target. Times are left out:
// creating and removing a temporary directory touches the parent's.
func snapshot(t testing.TB, root string) treeState {
	t.Helper()
	s := treeState{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + strconv.Itoa(len(b)) + " " + hex.EncodeToString(sum[:8])
		}
		s[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture makes base/{target,outside} with some content and returns
// base and the target directory.
func fixture(t testing.TB) (base, target string) {
	t.Helper()
	base = t.TempDir()
	target = filepath.Join(base, "target")
	for p, body := range map[string]string{
		"target/keep.txt":        "previous content\n",
		"target/sub/nested.yaml": "a: 1\n",
		"outside/canary":         "do not touch\n",
	} {
		p = filepath.Join(base, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return base, target
}

// listTree lists the tree below root as "path type[ -> target]" lines.
func listTree(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		line := filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case d.IsDir():
			line += "/"
		default:
			b, _ := os.ReadFile(p)
			line += " " + strconv.Quote(string(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// paxTar writes, by hand, a tar whose one entry gets its name (key "path")
// or link target (key "linkpath") from a PAX record of any size; the
// archive/tar writer refuses records over 1 MiB.
func paxTar(t testing.TB, key, value string, e ent) []byte {
	t.Helper()
	rec := " " + key + "=" + value + "\n"
	n := len(rec)
	for {
		l := len(strconv.Itoa(n)) + len(rec)
		if l == n {
			break
		}
		n = l
	}
	rec = strconv.Itoa(n) + rec
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "PaxHeaders/x", Typeflag: tar.TypeReg, Size: int64(len(rec)), Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(rec)); err != nil {
		t.Fatal(err)
	}
	writeEnt(t, tw, e)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[156] = tar.TypeXHeader // turn the first entry into the PAX header
	setHeaderSize(b, 0, int64(len(rec)))
	return b
}
