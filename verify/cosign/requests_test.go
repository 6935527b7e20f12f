package cosign_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// TestRequestEconomy pins how many registry requests a verification costs.
// A keyed-verified fetch by tag must fit in 6 requests in total, content
// included (PERFORMANCE.md), so verification may take at most 2.
func TestRequestEconomy(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	cases := []struct {
		name       string
		sign       signFunc
		format     verify.Format
		wantMax    int
		noReferrer bool
	}{
		{"legacy, any format", verifytest.SignLegacy, verify.FormatAny, 2, true},
		{"legacy only", verifytest.SignLegacy, verify.FormatLegacy, 2, true},
		{"bundle only", verifytest.SignBundle, verify.FormatBundle, 3, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.sign(t, c.sign, e.ref, key)
			// A fetch shares its client with the verifier: the client has
			// resolved the tag (and so set up its transport) before verifying.
			client := e.reg.Client()
			if _, err := client.Resolve(context.Background(), e.ref.WithTag("v1")); err != nil {
				t.Fatal(err)
			}
			v := mustVerifier(t, cosign.WithClient(client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(c.format))
			e.reg.ResetRequests()
			expect(t, v, e.ref, passed)
			reqs := e.reg.Requests()
			if len(reqs) > c.wantMax {
				for _, r := range reqs {
					t.Logf("%s %s", r.Method, r.Path)
				}
				t.Errorf("%d requests, want at most %d", len(reqs), c.wantMax)
			}
			if c.noReferrer {
				if n := e.reg.CountRequests("", "/referrers/"); n != 0 {
					t.Errorf("referrers listed %d times although a legacy signature verified", n)
				}
			}
		})
	}
}

// TestFormatAnyFallsBackToBundles checks that with FormatAny, bundles are
// consulted when no legacy signature verifies.
func TestFormatAnyFallsBackToBundles(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	other := mustKey(t, verifytest.KeyECDSAP256)
	e := newEnv(t)
	e.sign(t, verifytest.SignLegacy, e.ref, other) // not trusted
	e.sign(t, verifytest.SignBundle, e.ref, key)
	v := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()))
	res, _ := expect(t, v, e.ref, passed)
	if got := res.Signatures[0].Format; got != verify.FormatBundle {
		t.Errorf("format = %v, want bundle", got)
	}
	// Legacy only: the untrusted legacy signature is all there is.
	expect(t, mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(verify.FormatLegacy)), e.ref, rejected)
}

func TestContextCancelled(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	e := newEnv(t)
	e.sign(t, verifytest.SignLegacy, e.ref, key)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := mustVerifier(t, cosign.WithClient(e.client), cosign.WithKeys(key.PublicKeyPEM())).Verify(ctx, e.ref)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := e.reg.CountRequests(http.MethodGet, "/blobs/"); n != 0 {
		t.Errorf("%d blob downloads after cancellation", n)
	}
}

func TestOptions(t *testing.T) {
	key := mustKey(t, verifytest.KeyECDSAP256)
	_, rootJSON := mustSigstore(t)
	id := cosign.Identity{Issuer: issuer, Subject: subject}
	client, err := oci.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    []cosign.Option
		wantErr error
	}{
		{"keyed", []cosign.Option{cosign.WithKeys(key.PublicKeyPEM())}, nil},
		{"keyed with root", []cosign.Option{cosign.WithKeys(key.PublicKeyPEM()), cosign.WithTrustedRootJSON(rootJSON)}, nil},
		{"keyless", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(id)}, nil},
		{"public-good TUF is not fetched by New", []cosign.Option{cosign.WithPublicGoodTUF(t.TempDir()), cosign.WithIdentities(id)}, nil},
		{"nothing", nil, cosign.ErrInvalidOption},
		{"keyless without identity", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON)}, cosign.ErrInvalidOption},
		{"keyless without root", []cosign.Option{cosign.WithIdentities(id)}, cosign.ErrInvalidOption},
		{"keys and identities", []cosign.Option{cosign.WithKeys(key.PublicKeyPEM()), cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(id)}, cosign.ErrInvalidOption},
		{"keys and unsafe", []cosign.Option{cosign.WithKeys(key.PublicKeyPEM()), cosign.WithoutIdentityUnsafe()}, cosign.ErrInvalidOption},
		{"identities and unsafe", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(id), cosign.WithoutIdentityUnsafe()}, cosign.ErrInvalidOption},
		{"two roots", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithPublicGoodTUF(""), cosign.WithIdentities(id)}, cosign.ErrInvalidOption},
		{"client and registry options", []cosign.Option{cosign.WithKeys(key.PublicKeyPEM()), cosign.WithClient(client), cosign.WithRegistryOptions(oci.WithInsecure())}, cosign.ErrInvalidOption},
		{"require tlog without root", []cosign.Option{cosign.WithKeys(key.PublicKeyPEM()), cosign.WithRequireTlog()}, cosign.ErrInvalidOption},
		{"garbage root", []cosign.Option{cosign.WithTrustedRootJSON([]byte(`{"mediaType":"nope"}`)), cosign.WithIdentities(id)}, cosign.ErrInvalidOption},
		{"missing root file", []cosign.Option{cosign.WithTrustedRootFile("/nonexistent/trusted_root.json"), cosign.WithIdentities(id)}, cosign.ErrInvalidOption},
		{"identity without subject", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer})}, cosign.ErrInvalidOption},
		{"identity without issuer", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{SubjectRegExp: ".*"})}, cosign.ErrInvalidOption},
		{"identity exact and regex", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject, SubjectRegExp: "x"})}, cosign.ErrInvalidOption},
		{"identity bad regex", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(cosign.Identity{Issuer: issuer, SubjectRegExp: "("})}, cosign.ErrInvalidOption},
		{"max signatures 0", []cosign.Option{cosign.WithKeys(key.PublicKeyPEM()), cosign.WithMaxSignatures(0)}, cosign.ErrInvalidOption},
		{"max attachment 0", []cosign.Option{cosign.WithKeys(key.PublicKeyPEM()), cosign.WithMaxAttachmentSize(0)}, cosign.ErrInvalidOption},
		{"unknown format", []cosign.Option{cosign.WithKeys(key.PublicKeyPEM()), cosign.WithFormat(verify.Format(7))}, cosign.ErrInvalidOption},
		{"no keys", []cosign.Option{cosign.WithKeys()}, cosign.ErrInvalidOption},
		{"no key files", []cosign.Option{cosign.WithKeyFiles()}, cosign.ErrInvalidOption},
		{"no identities", []cosign.Option{cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities()}, cosign.ErrInvalidOption},
		{"empty name", []cosign.Option{cosign.WithKeys(key.PublicKeyPEM()), cosign.WithName("")}, cosign.ErrInvalidOption},
		{"key file missing", []cosign.Option{cosign.WithKeyFiles("/nonexistent/cosign.pub")}, cosign.ErrInvalidOption},
		{"not PEM", []cosign.Option{cosign.WithKeys([]byte("ssh-ed25519 AAAA"))}, cosign.ErrInvalidKey},
		{"private key block", []cosign.Option{cosign.WithKeys([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))}, cosign.ErrInvalidKey},
		{"garbage DER", []cosign.Option{cosign.WithKeys([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))}, cosign.ErrInvalidKey},
		{"weak RSA key", []cosign.Option{cosign.WithKeys([]byte(weakRSA))}, cosign.ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cosign.New(tt.opts...)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New: err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// weakRSA is a 1024-bit RSA public key.
const weakRSA = `-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCXkL9HbmO5lJjmW/wP0mmRSki
3ZPrA5+IC7gPa/hF4ZL3ISnchiCBVEEdDsqpigJjyW6tqXhHhsR+L3TpOdamvA0i
mOIDzP7sryIAEmVeqzRzUEIkXqF6b5Tlq7bPCS5xeIQ9XOD8GZ2TmOHMR0d7bapH
mzNtFYZMJjH38XQ+PQIDAQAB
-----END PUBLIC KEY-----
`
