package oci_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/push"
)

// TestIntegrationTokenAuthMerged runs the client against CNCF Distribution
// with its token access controller (a JWT per request, checked against the
// repository and action asked for): first uses of many repositories at once
// share a few token requests of several scopes, and the registry accepts the
// merged tokens for each repository.
func TestIntegrationTokenAuthMerged(t *testing.T) {
	reg := realregistry.Start(t, realregistry.WithTokenAuth())
	ctx := context.Background()
	pusher, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	refs := make([]oci.Reference, n)
	for i := range n {
		ref, err := oci.ParseReference(reg.Repo(fmt.Sprintf("fleet/app%02d:v1", i)))
		if err != nil {
			t.Fatal(err)
		}
		d, err := push.Artifact(ctx, pusher, ref, push.LayerFromBytes(oci.MediaTypeFluxContent, []byte(fmt.Sprint("content ", i))))
		if err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		refs[i] = ref.WithDigest(d.Digest)
	}
	if len(reg.TokenRequests()) == 0 {
		t.Fatal("pushing asked the token service nothing: the registry is not in token mode")
	}

	reg.ResetTokenRequests()
	c, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	noErrors(t, run(n, func(i int) error {
		m, err := c.Manifest(ctx, refs[i])
		if err == nil {
			var rc interface{ Close() error }
			rc, err = c.Blob(ctx, refs[i], m.Layers[0])
			if err == nil {
				rc.Close()
			}
		}
		return err
	}))
	reqs := reg.TokenRequests()
	multi := 0
	for _, scopes := range reqs {
		if len(scopes) > 1 {
			multi++
		}
	}
	if len(reqs) > 3 || multi == 0 {
		t.Errorf("%d token requests (%d of several scopes) for %d repositories, want at most 3, merged: %v", len(reqs), multi, n, reqs)
	}

	// Authorize sets up more repositories in one go; their reads then need
	// no token request at all.
	c2, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	reg.ResetTokenRequests()
	if err := c2.Authorize(ctx, refs...); err != nil {
		t.Fatal(err)
	}
	authorized := len(reg.TokenRequests())
	noErrors(t, run(n, func(i int) error {
		_, err := c2.Resolve(ctx, refs[i])
		return err
	}))
	if after := len(reg.TokenRequests()); authorized > 3 || after != authorized {
		t.Errorf("Authorize made %d token requests, the reads %d more; want at most 3 and none", authorized, after-authorized)
	}
}
