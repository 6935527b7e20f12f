package cosign_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// TestBindClient checks that a verifier built without a client reads
// signatures with the client it is bound to (the fetcher's), and that one
// built with a client of its own keeps it. The in-memory registry speaks
// plain HTTP, which only a client marked insecure (the fetcher's here) can
// talk to: the default client, HTTPS, cannot.
func TestBindClient(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	ss, rootJSON := mustSigstore(t)
	e := newEnv(t)
	e.sign(t, verifytest.SignLegacy, e.ref, key)
	e.sign(t, verifytest.SignBundle, e.ref, ss.Keyless(issuer, subject))
	httpsOnly := newClient(t)

	keyed := mustVerifier(t, cosign.WithKeys(key.PublicKeyPEM()))
	keyless := mustVerifier(t, cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject}))
	fp := verify.FingerprintOf(keyed)

	t.Run("unbound verifier reads with the default client", func(t *testing.T) {
		// Nothing can be read over HTTPS from a plain-HTTP registry: that is
		// a failure to read, never a verification failure.
		_, err := expect(t, keyed, e.ref, unavailable)
		var oe *oci.Error
		if !errors.As(err, &oe) {
			t.Errorf("error %v does not carry the client's *oci.Error", err)
		}
	})
	t.Run("bound verifier reads with the fetcher's client", func(t *testing.T) {
		e.reg.ResetRequests()
		bound := verify.BindClient(keyed, e.client)
		expect(t, bound, e.ref, passed)
		if e.reg.CountRequests(http.MethodGet, "/manifests/sha256-") == 0 {
			t.Error("the bound verifier sent no request to the fetcher's registry")
		}
		if got := verify.FingerprintOf(bound); got != fp {
			t.Errorf("binding changed the fingerprint: %s, want %s", got, fp)
		}
		if got := bound.(verify.Named).Name(); got != keyed.Name() {
			t.Errorf("binding changed the name: %q", got)
		}
		// The caller's verifier is unchanged.
		expect(t, keyed, e.ref, unavailable)
	})
	t.Run("through a policy", func(t *testing.T) {
		policy, err := verify.AllOf(keyed, keyless)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, policy, e.ref, unavailable)
		bound := verify.BindClient(policy, e.client)
		res, _ := expect(t, bound, e.ref, passed)
		if len(res.Signatures) != 2 {
			t.Errorf("%d signatures, want the keyed and the keyless one", len(res.Signatures))
		}
		if verify.FingerprintOf(bound) != verify.FingerprintOf(policy) {
			t.Error("binding changed the policy's fingerprint")
		}
	})
	t.Run("own client is kept", func(t *testing.T) {
		own := mustVerifier(t, cosign.WithClient(httpsOnly), cosign.WithKeys(key.PublicKeyPEM()))
		if got := verify.BindClient(own, e.client); got != verify.Verifier(own) {
			t.Fatalf("a verifier with WithClient was rebound: %v", got)
		}
		expect(t, verify.BindClient(own, e.client), e.ref, unavailable)

		fromOptions := mustVerifier(t, cosign.WithRegistryOptions(oci.WithInsecure(), oci.WithRetries(0, 0)), cosign.WithKeys(key.PublicKeyPEM()))
		expect(t, verify.BindClient(fromOptions, httpsOnly), e.ref, passed)
	})
	t.Run("concurrent binding", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := verify.BindClient(keyed, e.client).Verify(context.Background(), e.ref); err != nil {
					t.Errorf("bound: %v", err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := keyed.Verify(context.Background(), e.ref); !errors.Is(err, verify.ErrUnavailable) {
					t.Errorf("unbound: err = %v, want ErrUnavailable", err)
				}
			}()
		}
		wg.Wait()
	})
}

// TestUnavailable checks that signatures that could not be read are told
// apart from "none present" and from "present, none acceptable", by the
// verifier and by the combinators above it.
func TestUnavailable(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	other := mustKey(t, verifytest.KeyECDSAP256)
	type setup func(t *testing.T, e *env)
	signLegacy := func(s verifytest.Signer) setup {
		return func(t *testing.T, e *env) { e.sign(t, verifytest.SignLegacy, e.ref, s) }
	}
	signBundle := func(s verifytest.Signer) setup {
		return func(t *testing.T, e *env) { e.sign(t, verifytest.SignBundle, e.ref, s) }
	}
	fault := func(f ocitest.Fault) setup { return func(t *testing.T, e *env) { e.reg.Inject(f) } }
	// unreadablePayload makes the payload of the valid signature (signed
	// first) unreadable; replayed adds a readable signature over another
	// digest, which is rejected.
	unreadablePayload := func(t *testing.T, e *env) {
		payload, err := verifytest.SimpleSigningPayload(e.ref, e.ref.Digest)
		if err != nil {
			t.Fatal(err)
		}
		e.reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/" + string(oci.DigestOf(payload)), Status: http.StatusServiceUnavailable})
	}
	replayed := func(s verifytest.Signer) setup {
		return func(t *testing.T, e *env) {
			other := push(t, e.reg, "app:other", "other")
			e.sign(t, verifytest.SignLegacy, e.ref, s, verifytest.WithClaimedDigest(other.Digest))
		}
	}
	legacy503 := fault(ocitest.Fault{PathContains: "/manifests/sha256-", Status: http.StatusServiceUnavailable, Times: 100})
	referrers503 := fault(ocitest.Fault{PathContains: "/referrers/", Status: http.StatusServiceUnavailable, Times: 100})

	tests := []struct {
		name   string
		setup  []setup
		format verify.Format
		want   outcome
		status int // of the *oci.Error, when unavailable because of one
	}{
		{"legacy signatures 503", []setup{signLegacy(key), legacy503}, verify.FormatLegacy, unavailable, 503},
		{"legacy signatures 401", []setup{signLegacy(key), fault(ocitest.Fault{PathContains: "/manifests/sha256-", Status: http.StatusUnauthorized})}, verify.FormatLegacy, unavailable, 401},
		{"legacy signatures 403", []setup{signLegacy(key), fault(ocitest.Fault{PathContains: "/manifests/sha256-", Status: http.StatusForbidden})}, verify.FormatLegacy, unavailable, 403},
		{"referrers 503", []setup{signBundle(key), referrers503}, verify.FormatBundle, unavailable, 503},
		{"both 503, nothing attached", []setup{legacy503, referrers503}, verify.FormatAny, unavailable, 503},
		{"legacy 503, untrusted bundle", []setup{signBundle(other), legacy503}, verify.FormatAny, unavailable, 503},
		{"legacy 503, valid bundle", []setup{signBundle(key), legacy503}, verify.FormatAny, passed, 0},
		{"signature blob 503", []setup{signLegacy(key), fault(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/", Status: http.StatusServiceUnavailable})}, verify.FormatLegacy, unavailable, 503},
		{"signature blob cut mid-download", []setup{signLegacy(key), fault(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/", Truncate: 10})}, verify.FormatLegacy, unavailable, 0},
		{"bundle manifest 503", []setup{signBundle(key), fault(ocitest.Fault{PathContains: "/manifests/sha256:", Status: http.StatusServiceUnavailable})}, verify.FormatBundle, unavailable, 503},
		{"one unreadable, one rejected", []setup{signLegacy(key), unreadablePayload, replayed(other)}, verify.FormatLegacy, unavailable, 503},
		{"signature blob missing is a rejection", []setup{signLegacy(key), fault(ocitest.Fault{Method: http.MethodGet, PathContains: "/blobs/", Status: http.StatusNotFound})}, verify.FormatLegacy, rejected, 0},
		{"nothing attached", nil, verify.FormatAny, noSigs, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			for _, s := range tt.setup {
				s(t, e)
			}
			v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(tt.format))
			_, err := expect(t, v, e.ref, tt.want)
			if tt.want != unavailable {
				return
			}
			if !verify.IsUnavailable(err) {
				t.Errorf("IsUnavailable(%v) = false", err)
			}
			if !strings.Contains(err.Error(), e.ref.Repository) {
				t.Errorf("error %q does not name the artifact", err)
			}
			if tt.status != 0 {
				var oe *oci.Error
				if !errors.As(err, &oe) || oe.StatusCode != tt.status {
					t.Errorf("error %v does not carry the registry's HTTP %d as an *oci.Error", err, tt.status)
				}
			}
		})
	}

	t.Run("connection refused", func(t *testing.T) {
		reg := ocitest.New()
		client := reg.Client()
		ref := push(t, reg, "app:v1", "v1")
		if _, err := verifytest.SignLegacy(context.Background(), client, ref, key); err != nil {
			t.Fatal(err)
		}
		reg.Close()
		v := mustVerifier(t, cosign.WithClient(client), cosign.WithKeys(key.PublicKeyPEM()))
		_, err := expect(t, v, ref, unavailable)
		var oe *oci.Error
		if !errors.As(err, &oe) {
			t.Errorf("error %v does not carry the client's *oci.Error", err)
		}
	})

	t.Run("combinators", func(t *testing.T) {
		e := newEnv(t)
		e.sign(t, verifytest.SignLegacy, e.ref, other)
		e.reg.Inject(ocitest.Fault{PathContains: "/manifests/sha256-", Status: http.StatusServiceUnavailable, Times: 100})
		down := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(verify.FormatLegacy), cosign.WithName("legacy"))
		empty := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(verify.FormatBundle), cosign.WithName("bundle"))
		anyOf, err := verify.AnyOf(empty, down)
		if err != nil {
			t.Fatal(err)
		}
		_, err = expect(t, anyOf, e.ref, unavailable)
		var oe *oci.Error
		if !errors.As(err, &oe) || oe.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("AnyOf error %v does not carry the registry's 503", err)
		}
		allOf, err := verify.AllOf(down, empty)
		if err != nil {
			t.Fatal(err)
		}
		// The bundle verifier's "nothing attached" is a verdict: AllOf
		// cannot pass whatever the unreadable signatures hold.
		expect(t, allOf, e.ref, noSigs)
	})
}
