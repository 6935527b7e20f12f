package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ocisource/ocisource/semverref"
	"github.com/ocisource/ocisource/tarball"
)

// fleetFlux reconciles each source the way Flux's source-controller does
// for an OCIRepository with a semver ref: a fresh transport per reconcile,
// then go-containerregistry's remote.List (tags), remote.Head (the digest of
// the chosen tag) and, when that revision is not the one stored,
// remote.Image and the layer's blob, extracted with our tarball.Extract
// (Flux untars, then also archives the tree again for its storage, so this
// baseline spends less on storage than Flux does). Each remote call builds
// its own authenticated transport: a ping and a token per call, as in
// source-controller, which passes no remote.Reuse.
type fleetFlux struct {
	reg   *remoteRegistries
	fc    fleetConfig
	repos []string
	dir   string

	mu       sync.Mutex
	stored   map[int]string // revision in storage, by source
	firstErr atomic.Pointer[error]
}

func (b *fleetFlux) round() int {
	var failed atomic.Int64
	sel, err := semverref.Compile(">=1.0.0")
	if err == nil {
		err = os.MkdirAll(b.dir, 0o755)
	}
	if err != nil {
		b.firstErr.CompareAndSwap(nil, &err)
		return len(b.repos)
	}
	_ = parallel(b.fc.workers, len(b.repos), func(i int) error {
		if err := b.reconcile(i, sel); err != nil {
			b.firstErr.CompareAndSwap(nil, &err)
			failed.Add(1)
		}
		return nil
	})
	return int(failed.Load())
}

func (b *fleetFlux) reconcile(i int, sel *semverref.Selector) error {
	ctx := context.Background()
	t := http.DefaultTransport.(*http.Transport).Clone()
	defer t.CloseIdleConnections()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(t),
		remote.WithAuth(&authn.Basic{Username: fleetUser, Password: fleetPass})}
	repo, err := name.NewRepository(b.reg.hosts["healthy"]+"/"+b.repos[i], name.Insecure)
	if err != nil {
		return err
	}
	tags, err := remote.List(repo, opts...)
	if err != nil {
		return err
	}
	tag, err := sel.Select(tags)
	if err != nil {
		return err
	}
	ref := repo.Tag(tag)
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		return err
	}
	revision := tag + "@" + desc.Digest.String()
	b.mu.Lock()
	same := b.stored[i] == revision
	b.mu.Unlock()
	if same {
		return nil
	}
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	if len(layers) == 0 {
		return fmt.Errorf("no layers")
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := tarball.Extract(ctx, rc, filepath.Join(b.dir, fmt.Sprintf("src%05d", i))); err != nil {
		return err
	}
	b.mu.Lock()
	if b.stored == nil {
		b.stored = map[int]string{}
	}
	b.stored[i] = revision
	b.mu.Unlock()
	return nil
}
