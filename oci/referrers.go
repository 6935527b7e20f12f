package oci

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Referrers lists the manifests that name subject (which must carry a
// digest) as their subject, through the OCI 1.1 referrers API, or the
// referrers tag schema ("sha256-<hex>") when the registry lacks the API.
// A non-empty artifactType keeps only referrers of that type.
func (c *Client) Referrers(ctx context.Context, subject Reference, artifactType string) ([]Descriptor, error) {
	ds, err := c.referrers(ctx, subject, artifactType)
	return ds, opError("referrers", subject.display(), err)
}

func (c *Client) referrers(ctx context.Context, subject Reference, artifactType string) ([]Descriptor, error) {
	if subject.Digest == "" {
		return nil, fmt.Errorf("%w: referrers need a digest-pinned subject", ErrInvalidReference)
	}
	if err := subject.Validate(); err != nil {
		return nil, err
	}
	ctx = withOp(ctx, opReferrers)
	rt, repo, err := c.transport(ctx, subject, false)
	if err != nil {
		return nil, err
	}
	opts := c.remoteOptions(ctx, rt)
	if artifactType != "" {
		opts = append(opts, remote.WithFilter("artifactType", artifactType))
	}
	idx, err := remote.Referrers(repo.Digest(string(subject.Digest)), opts...)
	if err != nil {
		return nil, mapError(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]Descriptor, 0, len(im.Manifests))
	for _, d := range im.Manifests {
		dg, err := ParseDigest(d.Digest.String())
		if err != nil {
			return nil, fmt.Errorf("%w: referrer: %w", ErrInvalidManifest, err)
		}
		out = append(out, Descriptor{MediaType: string(d.MediaType), Digest: dg, Size: d.Size, ArtifactType: d.ArtifactType, Annotations: d.Annotations})
	}
	return out, nil
}
