package oci

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Tags lists every tag of repo's repository (its tag and digest are
// ignored), following pagination links at most the configured number of
// pages ([DefaultMaxTagPages]; more is an error wrapping [ErrTooManyPages]).
// A next-page link to another host or scheme is refused.
func (c *Client) Tags(ctx context.Context, repo Reference) ([]string, error) {
	tags, err := c.tags(ctx, repo)
	return tags, opError("tags", repo.Repo(), err)
}

func (c *Client) tags(ctx context.Context, repo Reference) ([]string, error) {
	rt, r, err := c.transport(ctx, repo, false)
	if err != nil {
		return nil, err
	}
	p, err := remote.NewPuller(c.remoteOptions(ctx, rt)...)
	if err != nil {
		return nil, err
	}
	l, err := p.Lister(ctx, r)
	if err != nil {
		return nil, mapError(err)
	}
	var tags []string
	for pages := 0; l.HasNext(); pages++ {
		if pages >= c.opts.maxTagPages {
			return nil, fmt.Errorf("%w: tag list spans more than %d pages", ErrTooManyPages, c.opts.maxTagPages)
		}
		page, err := l.Next(ctx)
		if err != nil {
			return nil, mapError(err)
		}
		tags = append(tags, page.Tags...)
	}
	return tags, nil
}
