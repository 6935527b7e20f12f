package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// layoutTarget writes a copy into an OCI image layout directory.
//
// It is written here rather than with go-containerregistry's layout package
// because that one writes index.json and blobs in place: a copy killed
// mid-write would leave a torn index.json, the one file every reader needs.
// Here every file is written to a temporary name in its own directory,
// synced and renamed, and index.json is read, merged and replaced under a
// lock on the layout directory.
//
// All writes go through an [os.Root] on the layout directory, so a symbolic
// link planted inside the layout (blobs/sha256 -> /etc) cannot lead a write
// outside it.
type layoutTarget struct {
	dir     string
	root    *os.Root
	entries []Descriptor // index.json entries to add at commit
}

const layoutMarker = `{"imageLayoutVersion":"1.0.0"}`

func openLayoutTarget(dir string) (*layoutTarget, error) {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%w: %s is not a directory (a layout tar is not a copy destination)", ErrInvalidLayout, dir)
	default:
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		if len(ents) > 0 {
			if _, err := os.Lstat(filepath.Join(dir, layoutMarkerFile)); err != nil {
				return nil, fmt.Errorf("%w: %s is not empty and has no %s file: refusing to write into it", ErrInvalidLayout, dir, layoutMarkerFile)
			}
			if err := checkMarker(dirStore{path: dir}); err != nil {
				return nil, err
			}
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	t := &layoutTarget{dir: dir, root: root}
	t.sweepTemps()
	if _, err := root.Lstat(layoutMarkerFile); errors.Is(err, fs.ErrNotExist) {
		if err := t.writeFile(layoutMarkerFile, []byte(layoutMarker)); err != nil {
			root.Close()
			return nil, err
		}
	}
	return t, nil
}

func (t *layoutTarget) close() error { return t.root.Close() }

func (t *layoutTarget) blobFile(d Descriptor) string { return filepath.FromSlash(blobPath(d.Digest)) }

// has reports whether the blob file is there with the right size. Blobs are
// only ever renamed into place whole, so a file of the right size is
// complete; readers check digests anyway.
func (t *layoutTarget) has(d Descriptor) (bool, error) {
	fi, err := t.root.Lstat(t.blobFile(d))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.Mode().IsRegular() && fi.Size() == d.Size, nil
}

func (t *layoutTarget) putBlob(ctx context.Context, d Descriptor, open func() (io.ReadCloser, error)) (bool, error) {
	if ok, err := t.has(d); err != nil || ok {
		return false, err
	}
	rc, err := open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	// open's readers are the source Client's Blob readers: they fail the
	// read at EOF unless size and digest are d's, and writeFrom renames
	// nothing after a failed read. No second hash.
	if err := t.writeFrom(ctx, t.blobFile(d), rc); err != nil {
		return false, err
	}
	return true, nil
}

func (t *layoutTarget) putManifest(ctx context.Context, d Descriptor, raw []byte, referrer bool) (bool, error) {
	if referrer {
		// The layout's referrers are the manifests index.json lists whose
		// subject names the digest.
		t.add(Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType})
	}
	if ok, err := t.has(d); err != nil || ok {
		return false, err
	}
	if err := t.writeFile(t.blobFile(d), raw); err != nil {
		return false, err
	}
	return true, ctx.Err()
}

func (t *layoutTarget) tag(_ context.Context, d Descriptor, tag string) error {
	t.add(Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, Annotations: map[string]string{annotationRefName: tag}})
	return nil
}

func (t *layoutTarget) add(d Descriptor) { t.entries = append(t.entries, d) }

// commit merges the new entries into index.json: a tag replaces the entry
// that held it, an untagged entry is added unless its digest is listed.
func (t *layoutTarget) commit(ctx context.Context, d Descriptor, tag string) error {
	root := Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType}
	if tag != "" {
		root.Annotations = map[string]string{annotationRefName: tag}
	}
	t.add(root)
	unlock, err := lockDir(ctx, t.dir)
	if err != nil {
		return err
	}
	defer unlock()
	var entries []Descriptor
	raw, err := t.root.ReadFile(layoutIndexFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if entries, err = parseIndexEntries(raw); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidLayout, layoutIndexFile, err)
		}
	}
	for _, e := range t.entries {
		name := e.Annotations[annotationRefName]
		if name != "" {
			entries = slices.DeleteFunc(entries, func(old Descriptor) bool { return old.Annotations[annotationRefName] == name })
			entries = append(entries, e)
			continue
		}
		if !slices.ContainsFunc(entries, func(old Descriptor) bool { return old.Digest == e.Digest }) {
			entries = append(entries, e)
		}
	}
	if len(entries) > MaxLayoutEntries {
		return fmt.Errorf("%w: index.json would list %d entries, more than %d", ErrTooLarge, len(entries), MaxLayoutEntries)
	}
	out, err := json.MarshalIndent(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []Descriptor `json:"manifests"`
	}{2, MediaTypeOCIIndex, entries}, "", "  ")
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.writeFile(layoutIndexFile, append(out, '\n'))
}

func (t *layoutTarget) writeFile(name string, b []byte) error {
	return t.writeFrom(context.Background(), name, bytes.NewReader(b))
}

// writeFrom writes r to a temporary file beside name (relative to the
// layout), syncs it and renames it to name, so name is either as before or
// whole.
func (t *layoutTarget) writeFrom(ctx context.Context, name string, r io.Reader) (err error) {
	dir := filepath.Dir(name)
	if err := t.root.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var f *os.File
	var tmp string
	for range 10 {
		tmp = filepath.Join(dir, "."+filepath.Base(name)+layoutTempInfix+strconv.FormatUint(rand.Uint64(), 36))
		f, err = t.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	// Held while it is written: sweepTemps leaves a locked one alone.
	lockTemp(f)
	defer func() {
		if err != nil {
			f.Close()
			t.root.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := t.root.Rename(tmp, name); err != nil {
		return err
	}
	if d, err := t.root.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// layoutTempInfix marks the temporary files a copy writes into a layout:
// ".<name>.ocisource-tmp-<random>", beside the file they become.
const layoutTempInfix = ".ocisource-tmp-"

// staleTempAge is how old a temporary file must be before a copy removes
// it as the leftover of a killed one (besides not being locked).
const staleTempAge = 10 * time.Minute

// sweepTemps removes what killed copies left in the layout: temporary files
// of ours (by name) in the layout's root and blob directories that no copy
// holds (no lock on them) and that have not been written to for
// staleTempAge. It lists those directories once per copy, and never touches
// a file it did not name.
func (t *layoutTarget) sweepTemps() {
	dirs := []string{"."}
	if algos, err := fs.ReadDir(t.root.FS(), "blobs"); err == nil {
		for _, a := range algos {
			if a.IsDir() {
				dirs = append(dirs, filepath.Join("blobs", a.Name()))
			}
		}
	}
	for _, dir := range dirs {
		ents, err := fs.ReadDir(t.root.FS(), filepath.ToSlash(dir))
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if !e.Type().IsRegular() || !strings.HasPrefix(n, ".") || !strings.Contains(n, layoutTempInfix) {
				continue
			}
			p := filepath.Join(dir, n)
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < staleTempAge {
				continue
			}
			f, err := t.root.OpenFile(p, os.O_RDONLY, 0)
			if err != nil {
				continue
			}
			if tryLockTemp(f) {
				_ = t.root.Remove(p)
			}
			f.Close()
		}
	}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
