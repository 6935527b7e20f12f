package ocisource_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/oci/push"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// Fetch the highest 1.x release, verified with a key, then again from cache.
func ExampleFetcher_Fetch() {
	ctx := context.Background()
	reg := ocitest.New() // an in-memory registry; use oci.NewClient for real ones
	defer reg.Close()
	client := reg.Client()

	// A signed release, as a CI pipeline would push it.
	created := push.WithCreated(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	desc, err := reg.PushFiles(ctx, "app:1.2.0", map[string]string{"app.yaml": "kind: ConfigMap\n"}, created)
	if err != nil {
		log.Fatal(err)
	}
	key, _ := verifytest.NewKeyPair()
	if _, err := verifytest.SignLegacy(ctx, client, reg.Ref("app:1.2.0").WithDigest(desc.Digest), key, verifytest.WithoutTransparencyLog()); err != nil {
		log.Fatal(err)
	}

	// The consumer: trust the key, fetch by semver range.
	verifier, err := cosign.New(cosign.WithClient(client), cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		log.Fatal(err)
	}
	fetcher, err := ocisource.NewFetcher(ocisource.WithClient(client))
	if err != nil {
		log.Fatal(err)
	}
	dir := filepath.Join(os.TempDir(), "ocisource-example-fetch")
	defer os.RemoveAll(dir)
	src := ocisource.Source{URL: reg.URL("app"), Ref: ocisource.Ref{SemVer: "1.x"}, Verifier: verifier}

	art, err := fetcher.Fetch(ctx, src, dir)
	if err != nil {
		log.Fatal(err)
	}
	content, _ := os.ReadFile(filepath.Join(dir, "app.yaml"))
	fmt.Println(art.Revision == "1.2.0@"+string(desc.Digest), art.FromCache)
	fmt.Println(art.Verification.Signatures[0].Format, art.Verification.Signatures[0].KeyID == key.KeyID())
	fmt.Print(string(content))

	art, err = fetcher.Fetch(ctx, src, dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(art.FromCache)
	// Output:
	// true false
	// legacy true
	// kind: ConfigMap
	// true
}

// Every error names its phase, so a controller can map it to a condition,
// and keeps its cause.
func ExampleFetchError() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()
	fetcher, _ := ocisource.NewFetcher(ocisource.WithClient(reg.Client()))

	_, err := fetcher.Fetch(ctx, ocisource.Source{URL: reg.URL("app"), Ref: ocisource.Ref{Tag: "v9"}}, filepath.Join(os.TempDir(), "ocisource-example-err"))
	fmt.Println(errors.Is(err, ocisource.ErrFetchFailed), errors.Is(err, oci.ErrNotFound))

	_, err = fetcher.Fetch(ctx, ocisource.Source{URL: "https://example.com/app"}, "unused")
	fmt.Println(errors.Is(err, ocisource.ErrInvalidSource))
	// Output:
	// true true
	// true
}

// Keep a source in sync with a Reconciler and watch its conditions.
func ExampleReconciler() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := ocitest.New()
	defer reg.Close()
	if _, err := reg.PushFiles(ctx, "app:v1", map[string]string{"app.yaml": "kind: ConfigMap\n"}); err != nil {
		log.Fatal(err)
	}
	fetcher, err := ocisource.NewFetcher(ocisource.WithClient(reg.Client()))
	if err != nil {
		log.Fatal(err)
	}
	ready := make(chan ocisource.Status, 1)
	rec, err := ocisource.NewReconciler(fetcher, ocisource.WithWorkers(4),
		ocisource.WithStatusHandler(func(s ocisource.Status) {
			if s.IsTrue(ocisource.ConditionReady) {
				select {
				case ready <- s:
				default:
				}
			}
		}))
	if err != nil {
		log.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "ocisource-example-reconciler-")
	defer os.RemoveAll(dir)
	spec := ocisource.Spec{Source: ocisource.Source{URL: reg.URL("app"), Ref: ocisource.Ref{Tag: "v1"}}, Dir: filepath.Join(dir, "app"), Interval: time.Minute}
	if err := rec.Set("app", spec); err != nil {
		log.Fatal(err)
	}
	go rec.Run(ctx)

	st := <-ready
	c, _ := st.Condition(ocisource.ConditionReady)
	fmt.Println(st.Name, c.Status, c.Reason, st.IsTrue(ocisource.ConditionArtifactInStorage))
	// Output: app True Succeeded true
}
