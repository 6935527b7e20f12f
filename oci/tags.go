package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Tags lists every tag of repo's repository (its tag and digest are
// ignored), following the registry's next-page links at most the
// configured number of pages ([DefaultMaxTagPages]; more is an error
// wrapping [ErrTooManyPages]). A next-page link to another host or scheme
// is refused, and each page is capped like a manifest.
func (c *Client) Tags(ctx context.Context, repo Reference) ([]string, error) {
	tags, err := c.tags(ctx, repo)
	return tags, opError("tags", repo.Repo(), err)
}

func (c *Client) tags(ctx context.Context, repo Reference) ([]string, error) {
	rt, r, err := c.transport(ctx, repo, false)
	if err != nil {
		return nil, err
	}
	next := c.url(r, "tags", "list")
	var tags []string
	for pages := 0; next != ""; pages++ {
		if pages >= c.opts.maxTagPages {
			return nil, fmt.Errorf("%w: tag list spans more than %d pages", ErrTooManyPages, c.opts.maxTagPages)
		}
		resp, err := c.do(ctx, rt, http.MethodGet, next, http.Header{"Accept": {"application/json"}}, http.StatusOK)
		if err != nil {
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("decoding tag list page %d: %w", pages+1, err)
		}
		tags = append(tags, page.Tags...)
		if next, err = nextPage(resp); err != nil {
			return nil, err
		}
	}
	return tags, nil
}

// nextPage returns the URL of the Link header's rel="next" target, resolved
// against the request, or "" when there is none. The link must stay on the
// host and scheme of the request that returned it.
func nextPage(resp *http.Response) (string, error) {
	for _, link := range resp.Header.Values("Link") {
		for _, part := range strings.Split(link, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				return "", fmt.Errorf("%w: malformed Link header %q", ErrRegistry, truncate(link))
			}
			u, err := url.Parse(target[1 : len(target)-1])
			if err != nil {
				return "", fmt.Errorf("%w: malformed Link header %q: %v", ErrRegistry, truncate(link), err)
			}
			u = resp.Request.URL.ResolveReference(u)
			if u.Scheme != resp.Request.URL.Scheme || u.Host != resp.Request.URL.Host {
				return "", fmt.Errorf("%w: next-page link %q leaves %s://%s", ErrRegistry, truncate(u.String()), resp.Request.URL.Scheme, resp.Request.URL.Host)
			}
			return u.String(), nil
		}
	}
	return "", nil
}
