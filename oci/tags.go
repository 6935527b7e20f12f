package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Tags lists every tag of repo's repository (its tag and digest are
// ignored, but must be valid), following the registry's next-page links. A
// next-page link to another host or scheme is refused, and the listing is
// bounded as a whole: at most [DefaultMaxTagPages] pages ([ErrTooManyPages]
// beyond), [DefaultMaxTags] tags and [DefaultMaxTagListBytes] bytes on the
// wire over all pages ([*TagListLimitError], wrapping [ErrTooLarge], beyond),
// each page capped like a manifest; see [WithMaxTagPages], [WithMaxTags] and
// [WithMaxTagListBytes]. Pages are decoded as they stream in, so memory stays
// a small multiple of the bytes received.
func (c *Client) Tags(ctx context.Context, repo Reference) ([]string, error) {
	tags, err := c.tags(ctx, repo)
	return tags, opError("tags", repo.displayRepo(), err)
}

func (c *Client) tags(ctx context.Context, repo Reference) ([]string, error) {
	if err := repo.Validate(); err != nil {
		return nil, err
	}
	ctx = withOp(ctx, opTags)
	rt, r, err := c.transport(ctx, repo, false)
	if err != nil {
		return nil, err
	}
	l := tagLister{maxTags: c.opts.maxTags, maxBytes: c.opts.maxTagListBytes, bytesLeft: c.opts.maxTagListBytes}
	next := c.url(r, "tags", "list")
	for next != "" {
		if l.pages >= c.opts.maxTagPages {
			return nil, fmt.Errorf("%w: tag list spans more than %d pages (raise the limit with WithMaxTagPages)", ErrTooManyPages, c.opts.maxTagPages)
		}
		l.pages++
		resp, err := c.do(ctx, rt, http.MethodGet, next, http.Header{"Accept": {"application/json"}}, http.StatusOK)
		if err != nil {
			return nil, err
		}
		err = l.page(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading tag list page %d: %w", l.pages, err)
		}
		if next, err = nextPage(resp); err != nil {
			return nil, err
		}
	}
	return l.tags, nil
}

// tagLister accumulates the tags of a listing within its bounds.
type tagLister struct {
	tags      []string
	pages     int
	maxTags   int
	maxBytes  int64
	bytesLeft int64 // over all pages
}

// page decodes one page, {"name": ..., "tags": [...]}, token by token: no
// page is held whole, neither as bytes nor parsed.
func (l *tagLister) page(body io.Reader) error {
	dec := json.NewDecoder(&squeezeReader{r: &budgetReader{r: body, l: l}})
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		if key != "tags" {
			if err := skipValue(dec); err != nil {
				return err
			}
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == nil { // "tags": null
			continue
		}
		if tok != json.Delim('[') {
			return fmt.Errorf("%w: \"tags\" is not a list", ErrRegistry)
		}
		for dec.More() {
			if len(l.tags) >= l.maxTags {
				return &TagListLimitError{Limit: "tags", Max: int64(l.maxTags), Pages: l.pages}
			}
			var tag string
			if err := dec.Decode(&tag); err != nil {
				return err
			}
			l.tags = append(l.tags, tag)
		}
		if err := expectDelim(dec, ']'); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("%w: malformed tag list: want %q, got %v", ErrRegistry, want, tok)
	}
	return nil
}

// skipValue consumes one JSON value of any shape without keeping it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// squeezeReader turns each run of JSON whitespace outside strings into one
// space. json.Decoder keeps whitespace it has peeked at in its buffer, so a
// page padded with megabytes of it would otherwise be held whole.
type squeezeReader struct {
	r        io.Reader
	inString bool
	escaped  bool
	space    bool // the last byte passed on outside a string was whitespace
}

func (s *squeezeReader) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		out := 0
		for _, c := range p[:n] {
			switch {
			case s.inString:
				s.inString = s.escaped || c != '"'
				s.escaped = !s.escaped && c == '\\'
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				if s.space {
					continue
				}
				s.space = true
			default:
				s.space = false
				s.inString = c == '"'
			}
			p[out] = c
			out++
		}
		if out > 0 || err != nil {
			return out, err
		}
	}
}

// budgetReader counts a listing's bytes on the wire against its budget
// over all pages, and fails the read that would pass it.
type budgetReader struct {
	r io.Reader
	l *tagLister
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.l.bytesLeft <= 0 {
		// A clean end exactly at the budget is fine; anything more is not.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n == 0 && err != nil {
			return 0, err
		}
		return 0, &TagListLimitError{Limit: "bytes", Max: b.l.maxBytes, Pages: b.l.pages}
	}
	if int64(len(p)) > b.l.bytesLeft {
		p = p[:b.l.bytesLeft]
	}
	n, err := b.r.Read(p)
	b.l.bytesLeft -= int64(n)
	return n, err
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
