package oci

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// Limits on what is read from an OCI image layout, which is untrusted input
// like a registry's answers. index.json and every manifest read from the
// layout are also capped by the manifest limit ([WithMaxManifestSize]).
const (
	// MaxLayoutEntries caps the descriptors of a layout's index.json, and
	// the manifests a referrers listing reads, nested indexes included.
	MaxLayoutEntries = 10_000
	// MaxLayoutTarMembers caps the members of a layout tar.
	MaxLayoutTarMembers = 100_000
	// maxLayoutDepth bounds how deep nested indexes are followed.
	maxLayoutDepth = 8
	// maxLayoutMarker caps the oci-layout file.
	maxLayoutMarker = 4 << 10
)

// ErrInvalidLayout reports an OCI image layout that cannot be read: no
// oci-layout file or index.json, an index.json that is malformed or over
// its limits, a tar with duplicate, sparse or too many members.
var ErrInvalidLayout = errors.New("invalid OCI image layout")

// Names of the files of a layout.
const (
	layoutIndexFile  = "index.json"
	layoutMarkerFile = "oci-layout"
	// annotationRefName names an index.json entry: its tag.
	annotationRefName = "org.opencontainers.image.ref.name"
)

// parseLayout parses "oci-layout:///abs/path[:tag][@digest]".
func parseLayout(s string) (Reference, error) {
	fail := func(format string, args ...any) (Reference, error) {
		return Reference{}, fmt.Errorf("%w %q: %s", ErrInvalidReference, truncate(s), fmt.Sprintf(format, args...))
	}
	rest := strings.TrimPrefix(s, LayoutScheme)
	if len(rest) > 4096 {
		return fail("path longer than 4096 bytes")
	}
	var ref Reference
	if i := strings.LastIndexByte(rest, '@'); i >= 0 && !strings.Contains(rest[i:], "/") {
		d, err := ParseDigest(rest[i+1:])
		if err != nil {
			return Reference{}, fmt.Errorf("%w %q: %w", ErrInvalidReference, truncate(s), err)
		}
		ref.Digest = d
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && i > strings.LastIndexByte(rest, '/') {
		ref.Tag = rest[i+1:]
		rest = rest[:i]
		if err := checkTag(ref.Tag); err != nil {
			return fail("%v", err)
		}
	}
	ref.Layout = rest
	if err := checkLayoutPath(rest); err != nil {
		return fail("%v", err)
	}
	return ref, nil
}

func checkLayoutPath(p string) error {
	switch {
	case p == "":
		return errors.New("missing layout path (want oci-layout:///absolute/path)")
	case !filepath.IsAbs(p):
		return fmt.Errorf("layout path %q is not absolute (want oci-layout:///absolute/path)", truncate(p))
	case filepath.Clean(p) != p:
		return fmt.Errorf("layout path %q is not clean (want %q)", truncate(p), truncate(filepath.Clean(p)))
	case strings.ContainsAny(p, "\x00@"):
		return fmt.Errorf("layout path %q holds a NUL or an @", truncate(p))
	}
	return nil
}

func (r Reference) validateLayout() error {
	if r.Registry != "" || r.Repository != "" {
		return fmt.Errorf("%w %q: a layout reference has no registry or repository", ErrInvalidReference, truncate(r.String()))
	}
	got, err := ParseReference(r.String())
	if err != nil {
		return err
	}
	if got != r {
		return fmt.Errorf("%w %q: does not round-trip", ErrInvalidReference, truncate(r.String()))
	}
	return nil
}

// layoutHost is the made-up registry host of the layout at p in the
// requests the Client sends to it (they never leave the process): unique
// per path, and under ".invalid", which no resolver answers.
func layoutHost(p string) string {
	sum := sha256.Sum256([]byte(p))
	return hex.EncodeToString(sum[:16]) + layoutHostSuffix
}

const layoutHostSuffix = ".oci-layout.invalid"

// layoutStore reads the files of a layout: "index.json", "oci-layout" and
// "blobs/<algorithm>/<hex>", the last only ever named from a digest that
// [ParseDigest] accepted.
type layoutStore interface {
	// open returns the file and its size, or an error wrapping
	// fs.ErrNotExist when the layout lacks it.
	open(name string) (io.ReadCloser, int64, error)
}

func blobPath(d Digest) string { return "blobs/" + d.Algorithm() + "/" + d.Hex() }

// openLayoutStore opens the layout at p: a directory, or a tar file whose
// members it indexes once (headers only: data is skipped by seeking).
//
// A tar's index is kept in cache (when not nil) and used again while the
// file is the same one, of the same size and modification time: a fetch
// makes several requests, and each would otherwise walk every header.
func openLayoutStore(p string, cache *tarIndexCache) (layoutStore, error) {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: layout %s does not exist", ErrNotFound, p)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidLayout, err)
	}
	var st layoutStore
	switch {
	case fi.IsDir():
		st = dirStore{path: p}
	case fi.Mode().IsRegular():
		if ts := cache.get(p, fi); ts != nil {
			return ts, nil // its marker was checked when it was indexed
		}
		ts, err := indexTar(p)
		if err != nil {
			return nil, err
		}
		if err := checkMarker(ts); err != nil {
			return nil, err
		}
		cache.put(p, fi, ts)
		return ts, nil
	default:
		return nil, fmt.Errorf("%w: %s is neither a directory nor a tar file", ErrInvalidLayout, p)
	}
	if err := checkMarker(st); err != nil {
		return nil, err
	}
	return st, nil
}

// checkMarker reads the oci-layout file.
func checkMarker(st layoutStore) error {
	rc, _, err := st.open(layoutMarkerFile)
	if err != nil {
		return fmt.Errorf("%w: no %s file: %v", ErrInvalidLayout, layoutMarkerFile, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLayoutMarker+1))
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", ErrInvalidLayout, layoutMarkerFile, err)
	}
	var m struct {
		Version string `json:"imageLayoutVersion"`
	}
	if len(b) > maxLayoutMarker || json.Unmarshal(b, &m) != nil || m.Version == "" {
		return fmt.Errorf("%w: %s is not {\"imageLayoutVersion\": ...}", ErrInvalidLayout, layoutMarkerFile)
	}
	return nil
}

// dirStore reads a layout directory through an [os.Root], so that no
// symbolic link inside the layout leads outside it. It holds no open file:
// each open opens the root anew.
type dirStore struct{ path string }

func (s dirStore) open(name string) (io.ReadCloser, int64, error) {
	root, err := os.OpenRoot(s.path)
	if err != nil {
		return nil, 0, err
	}
	f, err := root.Open(filepath.FromSlash(name))
	root.Close() // f stays open
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %s is not a regular file", ErrInvalidLayout, name)
	}
	return f, fi.Size(), nil
}

// tarStore reads the members of a layout tar in place: each is a section
// of the file, found by one pass over the headers.
type tarStore struct {
	path    string
	members map[string]tarMember
}

type tarMember struct{ off, size int64 }

// indexTar records where the layout's files are in the tar at p. Members
// other than index.json, oci-layout and blobs/<algorithm>/<hex> (with an
// optional "./" in front) are skipped; a layout file that appears twice, is
// not a regular file or is sparse is refused, as is a tar of more than
// [MaxLayoutTarMembers] members.
func indexTar(p string) (*tarStore, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidLayout, err)
	}
	defer f.Close()
	bad := func(format string, args ...any) (*tarStore, error) {
		return nil, fmt.Errorf("%w: tar %s: %s", ErrInvalidLayout, p, fmt.Sprintf(format, args...))
	}
	// A compressed tar cannot be read by seeking: each operation would
	// decompress it whole. Say so rather than fail on its first header.
	var magic [6]byte
	if n, _ := io.ReadFull(f, magic[:]); n >= 2 {
		for _, c := range []struct {
			name string
			sig  []byte
		}{{"gzip", []byte{0x1f, 0x8b}}, {"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}}, {"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}}, {"bzip2", []byte("BZh")}} {
			if bytes.HasPrefix(magic[:n], c.sig) {
				return bad("%s-compressed: a layout tar is read in place, so decompress it first (or unpack it into a directory)", c.name)
			}
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return bad("%v", err)
	}
	ts := &tarStore{path: p, members: map[string]tarMember{}}
	tr := tar.NewReader(f) // f is an io.Seeker: data is skipped, not read
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bad("%v", err)
		}
		if n >= MaxLayoutTarMembers {
			return bad("more than %d members", MaxLayoutTarMembers)
		}
		name, ok := layoutMemberName(hdr.Name)
		if !ok {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return bad("%s is not a regular file", truncate(hdr.Name))
		}
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return bad("%s is a sparse file", truncate(hdr.Name))
			}
		}
		if _, dup := ts.members[name]; dup {
			return bad("%s appears twice", truncate(hdr.Name))
		}
		// archive/tar reads headers block by block without buffering, so
		// the file offset after Next is where the member's data starts.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return bad("%v", err)
		}
		ts.members[name] = tarMember{off: off, size: hdr.Size}
	}
	return ts, nil
}

// tarIndexCache keeps the indexes of the last few layout tars a Client read.
type tarIndexCache struct {
	mu sync.Mutex
	m  map[string]cachedTar
}

type cachedTar struct {
	fi os.FileInfo
	ts *tarStore
}

// maxCachedTars bounds the tar indexes a Client keeps.
const maxCachedTars = 8

func (c *tarIndexCache) get(p string, fi os.FileInfo) *tarStore {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[p]
	if !ok || !os.SameFile(e.fi, fi) || e.fi.Size() != fi.Size() || !e.fi.ModTime().Equal(fi.ModTime()) {
		return nil
	}
	return e.ts
}

func (c *tarIndexCache) put(p string, fi os.FileInfo, ts *tarStore) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedTar{}
	}
	if _, ok := c.m[p]; !ok && len(c.m) >= maxCachedTars {
		for k := range c.m { // any one: a controller reads few tars
			delete(c.m, k)
			break
		}
	}
	c.m[p] = cachedTar{fi: fi, ts: ts}
}

// layoutMemberName returns the layout file a tar member name stands for.
func layoutMemberName(n string) (string, bool) {
	n = strings.TrimPrefix(n, "./")
	switch n {
	case layoutIndexFile, layoutMarkerFile:
		return n, true
	}
	dir, file := path.Split(n)
	algo, ok := strings.CutPrefix(dir, "blobs/")
	if !ok {
		return "", false
	}
	d, err := ParseDigest(strings.TrimSuffix(algo, "/") + ":" + file)
	if err != nil {
		return "", false
	}
	return blobPath(d), true
}

func (s *tarStore) open(name string) (io.ReadCloser, int64, error) {
	m, ok := s.members[name]
	if !ok {
		return nil, 0, fmt.Errorf("tar %s: %s: %w", s.path, name, fs.ErrNotExist)
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, 0, err
	}
	return sectionFile{SectionReader: io.NewSectionReader(f, m.off, m.size), f: f}, m.size, nil
}

type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (s sectionFile) Close() error { return s.f.Close() }

// readLayoutFile reads a whole layout file of at most max bytes.
func readLayoutFile(st layoutStore, name string, max int64) ([]byte, error) {
	rc, size, err := st.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than the limit of %d", ErrTooLarge, name, size, max)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, max+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > max {
		return nil, fmt.Errorf("%w: %s is more than the limit of %d bytes", ErrTooLarge, name, max)
	}
	return buf.Bytes(), nil
}

// layoutIndex is a parsed index.json.
type layoutIndex struct {
	entries []Descriptor
	tags    map[string]Descriptor
	// conflicts are tags two entries claim with different digests.
	conflicts map[string]bool
}

// readLayoutIndex reads and checks index.json: at most max bytes and
// [MaxLayoutEntries] descriptors, each with a valid digest and size.
// Entries whose ref.name annotation is a valid tag are the layout's tags;
// other names (containerd's full references) are ignored.
func readLayoutIndex(st layoutStore, max int64) (*layoutIndex, error) {
	raw, err := readLayoutFile(st, layoutIndexFile, max)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s", ErrInvalidLayout, layoutIndexFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidLayout, err)
	}
	entries, err := parseIndexEntries(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidLayout, layoutIndexFile, err)
	}
	idx := &layoutIndex{entries: entries, tags: map[string]Descriptor{}, conflicts: map[string]bool{}}
	for _, d := range entries {
		tag := d.Annotations[annotationRefName]
		if tag == "" || checkTag(tag) != nil {
			continue
		}
		if old, ok := idx.tags[tag]; ok && old.Digest != d.Digest {
			idx.conflicts[tag] = true
		}
		idx.tags[tag] = d
	}
	idx.addCosignSaveTags()
	return idx, nil
}

// The "kind" annotations `cosign save` writes on index.json entries instead
// of tags: one image (or image index), and its signatures and attestations.
const (
	cosignKindAnnotation = "kind"
	cosignKindImage      = "dev.cosignproject.cosign/image"
	cosignKindIndex      = "dev.cosignproject.cosign/imageIndex"
	cosignKindSigs       = "dev.cosignproject.cosign/sigs"
	cosignKindAtts       = "dev.cosignproject.cosign/atts"
)

// addCosignSaveTags names the entries of a layout written by `cosign save`,
// which tags nothing: its one image answers for "latest", its signatures for
// "sha256-<hex>.sig" and its attestations for ".att", so a source of
// "oci-layout:///dir" verifies as the image did in its registry. Tags the
// layout does carry win; a layout with several cosign images names none.
func (idx *layoutIndex) addCosignSaveTags() {
	var image, sigs, atts []Descriptor
	for _, d := range idx.entries {
		switch d.Annotations[cosignKindAnnotation] {
		case cosignKindImage, cosignKindIndex:
			image = append(image, d)
		case cosignKindSigs:
			sigs = append(sigs, d)
		case cosignKindAtts:
			atts = append(atts, d)
		}
	}
	if len(image) != 1 {
		return
	}
	name := func(tag string, ds []Descriptor) {
		if _, taken := idx.tags[tag]; !taken && len(ds) == 1 {
			idx.tags[tag] = ds[0]
		}
	}
	name("latest", image)
	name(CosignTag(image[0].Digest, CosignSignature), sigs)
	name(CosignTag(image[0].Digest, CosignAttestation), atts)
}

// parseIndexEntries parses the descriptors of an index, bounded by
// [MaxLayoutEntries] and validated.
func parseIndexEntries(raw []byte) ([]Descriptor, error) {
	var doc struct {
		Manifests []json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if len(doc.Manifests) > MaxLayoutEntries {
		return nil, fmt.Errorf("%d entries, more than the limit of %d", len(doc.Manifests), MaxLayoutEntries)
	}
	out := make([]Descriptor, 0, len(doc.Manifests))
	for i, m := range doc.Manifests {
		var d Descriptor
		if err := json.Unmarshal(m, &d); err != nil {
			return nil, fmt.Errorf("entry %d: %v", i, err)
		}
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out = append(out, d)
	}
	return out, nil
}
