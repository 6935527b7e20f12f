package oci_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// pagedTags serves a tag listing of pages copies of page, each linking to
// the next, as a registry paginating a huge repository would.
func pagedTags(t *testing.T, pages int, page []byte) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("page"))
		served.Add(1)
		if n+1 < pages {
			w.Header().Set("Link", fmt.Sprintf(`</v2/app/tags/list?page=%d>; rel="next"`, n+1))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.Write(page)
	}))
	t.Cleanup(srv.Close)
	return srv, &served
}

// peakHeap runs f and samples the heap in use meanwhile, returning its
// peak above what it was before. Past limit it cancels f's context, so
// code without bounds fails the test instead of exhausting the machine.
func peakHeap(limit uint64, f func(ctx context.Context)) (peak, allocated uint64) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > before.HeapInuse && ms.HeapInuse-before.HeapInuse > peak {
			peak = ms.HeapInuse - before.HeapInuse
		}
		allocated = ms.TotalAlloc - before.TotalAlloc
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			sample()
			if peak > limit {
				cancel()
				return
			}
		}
	}()
	f(ctx)
	cancel()
	<-done
	sample()
	return peak, allocated
}

// TestTagListingBoundedAsAWhole: 100 pages of 4 MiB, each under the
// manifest cap and within the page limit, once took 6.3 GiB. The listing is
// now bounded as a whole, fails fast, and keeps the heap small.
func TestTagListingBoundedAsAWhole(t *testing.T) {
	const pageSize = oci.DefaultMaxManifestSize - 1024
	const heapLimit = 64 << 20

	oneByteTags := func() []byte { // {"name":"app","tags":["a","a",...]}
		var b bytes.Buffer
		b.WriteString(`{"name":"app","tags":["a"`)
		for b.Len() < pageSize-8 {
			b.WriteString(`,"a"`)
		}
		b.WriteString(`]}`)
		return b.Bytes()
	}
	padded := func() []byte { // a few tags, then whitespace: valid JSON, no tags to count
		var b bytes.Buffer
		b.WriteString(`{"name":"app","tags":["a","b"]`)
		b.Write(bytes.Repeat([]byte(" "), pageSize-b.Len()-1))
		b.WriteString(`}`)
		return b.Bytes()
	}

	for _, tc := range []struct {
		name      string
		page      []byte
		limit     string
		maxServed int64
	}{
		{"one-byte tags hit the tag count", oneByteTags(), "tags", 1},
		{"padded pages hit the byte budget", padded(), "bytes", oci.DefaultMaxTagListBytes/pageSize + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, served := pagedTags(t, oci.DefaultMaxTagPages, tc.page)
			c, err := oci.NewClient(oci.WithInsecure(), oci.WithAnonymous(), oci.WithRetries(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			repo, _ := oci.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/app")
			var tags []string
			var tagsErr error
			peak, allocated := peakHeap(heapLimit, func(ctx context.Context) {
				tags, tagsErr = c.Tags(ctx, repo)
			})
			t.Logf("peak heap %d MiB, allocated %d MiB, %d pages served", peak>>20, allocated>>20, served.Load())
			var le *oci.TagListLimitError
			if !errors.Is(tagsErr, oci.ErrTooLarge) || !errors.As(tagsErr, &le) || le.Limit != tc.limit {
				t.Fatalf("err = %v, want a *TagListLimitError on %s wrapping ErrTooLarge", tagsErr, tc.limit)
			}
			if tags != nil {
				t.Errorf("returned %d tags with the error", len(tags))
			}
			if peak > heapLimit {
				t.Errorf("peak heap %d MiB, want under %d MiB", peak>>20, heapLimit>>20)
			}
			if n := served.Load(); n > tc.maxServed {
				t.Errorf("%d pages fetched, want at most %d: the listing should fail fast", n, tc.maxServed)
			}
			if !strings.Contains(tagsErr.Error(), repo.Repo()) || !strings.Contains(tagsErr.Error(), "WithMaxTag") {
				t.Errorf("error %q does not name the repository and the option to raise", tagsErr)
			}
		})
	}
}

func TestTagListingOptions(t *testing.T) {
	ctx := context.Background()
	reg := ocitest.NewT(t, ocitest.WithTagPageSize(2))
	want := []string{"a", "b", "c", "d", "e"}
	for _, tag := range want {
		pushArtifact(t, reg, "app:"+tag, "x")
	}
	for _, tc := range []struct {
		name  string
		opt   oci.Option
		limit string // "" for success
	}{
		{"tags at the limit", oci.WithMaxTags(5), ""},
		{"tags over the limit", oci.WithMaxTags(4), "tags"},
		{"bytes within the budget", oci.WithMaxTagListBytes(1 << 10), ""},
		{"bytes over the budget", oci.WithMaxTagListBytes(60), "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reg.Client(tc.opt).Tags(ctx, reg.Ref("app"))
			if tc.limit == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("tags (-want +got):\n%s", diff)
				}
				return
			}
			var le *oci.TagListLimitError
			if !errors.As(err, &le) || le.Limit != tc.limit || !errors.Is(err, oci.ErrTooLarge) {
				t.Fatalf("err = %v, want a TagListLimitError on %s", err, tc.limit)
			}
		})
	}
	t.Run("malformed pages", func(t *testing.T) {
		for _, body := range []string{`{"tags":"a"}`, `{"tags":[1]}`, `[]`, `{"tags":["a"`, `{"name":{"x":[1,{"y":2}]},"tags":null}`} {
			reg := ocitest.NewT(t)
			pushArtifact(t, reg, "app:a", "x")
			reg.Inject(ocitest.Fault{PathContains: "/tags/list", Body: []byte(body)})
			got, err := reg.Client().Tags(ctx, reg.Ref("app"))
			if body == `{"name":{"x":[1,{"y":2}]},"tags":null}` {
				if err != nil || len(got) != 0 {
					t.Errorf("%s: %v, %v; want no tags and no error", body, got, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s: accepted as %q", body, got)
			}
		}
	})
}
