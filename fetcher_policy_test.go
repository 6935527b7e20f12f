package ocisource_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// A cache hit must never stand in for a verification by another policy.
func TestFetchCacheHitRespectsVerificationPolicy(t *testing.T) {
	e := newEnv(t)
	d := e.push("app:v1", v1)
	client := e.reg.Client()
	keyA, _ := verifytest.NewKeyPair()
	keyB, _ := verifytest.NewKeyPair()
	if _, err := verifytest.SignLegacy(e.ctx, client, e.reg.Ref("app:v1").WithDigest(d.Digest), keyA, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	verifierFor := func(k *verifytest.KeyPair) verify.Verifier {
		v, err := cosign.New(cosign.WithClient(client), cosign.WithKeys(k.PublicKeyPEM()))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	src := e.src(ocisource.Ref{Tag: "v1"})
	src.Verifier = verifierFor(keyA)
	if _, err := e.f.Fetch(e.ctx, src, e.dir); err != nil {
		t.Fatal(err)
	}
	// Same policy, new verifier value: cache hit.
	src.Verifier = verifierFor(keyA)
	if a, err := e.f.Fetch(e.ctx, src, e.dir); err != nil || !a.FromCache {
		t.Fatalf("same policy: FromCache=%v err=%v, want a cache hit", a != nil && a.FromCache, err)
	}
	// Another key: verified afresh, and it fails.
	src.Verifier = verifierFor(keyB)
	_, err := e.f.Fetch(e.ctx, src, e.dir)
	if !errors.Is(err, ocisource.ErrVerification) {
		t.Fatalf("key B on content verified by key A: err = %v, want ErrVerification", err)
	}
	assertUntouched(t, e.dir, v1, siblings(t, e.dir))

	// A verifier without a fingerprint is asked again on each cache hit.
	var calls atomic.Int32
	plain := verify.VerifierFunc(func(ctx context.Context, ref oci.Reference) (*verify.Result, error) {
		calls.Add(1)
		return &verify.Result{Ref: ref, Signatures: []verify.Signature{{KeyID: "test"}}}, nil
	})
	src.Verifier = plain
	if _, err := e.f.Fetch(e.ctx, src, e.dir); err != nil {
		t.Fatal(err)
	}
	e.reg.ResetRequests()
	a, err := e.f.Fetch(e.ctx, src, e.dir)
	if err != nil || !a.FromCache {
		t.Fatalf("FromCache=%v err=%v", a != nil && a.FromCache, err)
	}
	if calls.Load() != 2 {
		t.Errorf("verifier called %d times, want 2 (fetch + cache hit)", calls.Load())
	}
	if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 {
		t.Errorf("cache hit downloaded %d blobs", n)
	}
}

// Running out of time while verifying is a fetch failure, not a verdict.
func TestFetchDeadlineIsNotAVerificationFailure(t *testing.T) {
	e := newEnv(t)
	d := e.push("app:v1", v1)
	key, _ := verifytest.NewKeyPair()
	client := e.reg.Client()
	if _, err := verifytest.SignLegacy(e.ctx, client, e.reg.Ref("app:v1").WithDigest(d.Digest), key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	v, err := cosign.New(cosign.WithClient(client), cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	e.reg.Inject(ocitest.Fault{PathContains: ".sig", Delay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(e.ctx, 200*time.Millisecond)
	defer cancel()
	src := e.src(ocisource.Ref{Tag: "v1"})
	src.Verifier = v
	_, err = e.f.Fetch(ctx, src, e.dir)
	if !errors.Is(err, ocisource.ErrFetchFailed) || errors.Is(err, ocisource.ErrVerification) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrFetchFailed wrapping context.DeadlineExceeded", err)
	}
}

// A tag moved after the resolve (here: by a verifier that pushes while it
// runs) changes nothing: what is verified and pulled is the digest resolved first.
func TestFetchPinsTheResolvedDigest(t *testing.T) {
	e := newEnv(t)
	first := e.push("app:v1", v1)
	var verified oci.Reference
	mover := verify.VerifierFunc(func(ctx context.Context, ref oci.Reference) (*verify.Result, error) {
		verified = ref
		e.push("app:v1", v2) // the tag moves mid-fetch
		return &verify.Result{Ref: ref, Signatures: []verify.Signature{{KeyID: "test"}}}, nil
	})
	src := e.src(ocisource.Ref{Tag: "v1"})
	src.Verifier = mover
	a, err := e.f.Fetch(e.ctx, src, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if verified.Digest != first.Digest || a.Digest != first.Digest {
		t.Errorf("verified %s, pulled %s; want both %s", verified.Digest, a.Digest, first.Digest)
	}
	if got := tree(t, e.dir); got["deploy.yaml"] != v1["deploy.yaml"] {
		t.Errorf("content = %v, want the artifact resolved first", got)
	}
	// The resolve itself is the one GET by tag (a first fetch takes the
	// manifest with it); nothing asks for the tag again.
	if n := e.reg.CountRequests(http.MethodGet, "/manifests/v1"); n != 1 {
		t.Errorf("%d GETs of the manifest by tag, want the resolve's one", n)
	}
}

// A verifier that "succeeds" without naming a signature is not trusted.
func TestFetchRefusesEmptyVerification(t *testing.T) {
	e := newEnv(t)
	e.push("app:v1", v1)
	for name, v := range map[string]verify.Verifier{
		"nil result": verify.VerifierFunc(func(context.Context, oci.Reference) (*verify.Result, error) { return nil, nil }),
		"no signatures": verify.VerifierFunc(func(_ context.Context, ref oci.Reference) (*verify.Result, error) {
			return &verify.Result{Ref: ref}, nil
		}),
	} {
		src := e.src(ocisource.Ref{Tag: "v1"})
		src.Verifier = v
		if _, err := e.f.Fetch(e.ctx, src, e.dir); !errors.Is(err, ocisource.ErrVerification) {
			t.Errorf("%s: err = %v, want ErrVerification", name, err)
		}
	}
}

// TestFetchLendsItsClientToTheVerifier: a cosign verifier built without a
// client reads signatures through the Fetcher's (here: plain HTTP to the
// in-memory registry, which a default client would refuse), and a registry
// failure while reading them is a fetch failure to retry, not a verdict.
func TestFetchLendsItsClientToTheVerifier(t *testing.T) {
	e := newEnv(t)
	d := e.push("app:v1", v1)
	key, _ := verifytest.NewKeyPair()
	if _, err := verifytest.SignLegacy(e.ctx, e.reg.Client(), e.reg.Ref("app:v1").WithDigest(d.Digest), key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	v, err := cosign.New(cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	src := e.src(ocisource.Ref{Tag: "v1"})
	src.Verifier = v
	if _, err := e.f.Fetch(e.ctx, src, e.dir); err != nil {
		t.Fatalf("Fetch with a verifier that has no client: %v", err)
	}

	e.push("app:v2", v2)
	d2, _ := e.reg.Client().Resolve(e.ctx, e.reg.Ref("app:v2"))
	if _, err := verifytest.SignLegacy(e.ctx, e.reg.Client(), e.reg.Ref("app:v2").WithDigest(d2.Digest), key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	e.reg.Inject(ocitest.Fault{PathContains: "/manifests/sha256-", Status: http.StatusServiceUnavailable, Times: 1000})
	src.Ref = ocisource.Ref{Tag: "v2"}
	_, err = e.f.Fetch(e.ctx, src, e.dir)
	if !errors.Is(err, ocisource.ErrFetchFailed) || !errors.Is(err, verify.ErrUnavailable) || errors.Is(err, ocisource.ErrVerification) {
		t.Fatalf("signatures behind a 503: error = %v, want ErrFetchFailed wrapping verify.ErrUnavailable, not ErrVerification", err)
	}
	assertUntouched(t, e.dir, v1, siblings(t, e.dir))
}
