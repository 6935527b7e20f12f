package cosign_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// TestContradictoryOptions lists every pair of options that contradict each
// other: together they are an error naming both, never a silent override.
// Each option of a pair is valid on its own (with the case's base options),
// so it is the pair that is refused.
func TestContradictoryOptions(t *testing.T) {
	k1 := mustKey(t, verifytest.KeyECDSAP256)
	_, root1 := mustSigstore(t)
	_, root2 := mustSigstore(t)
	_, ctRoot := mustSigstore(t, verifytest.WithCTLog())
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootFile1, rootFile2 := write("root1.json", root1), write("root2.json", root2)
	keyFile1 := write("k1.pub", k1.PublicKeyPEM())
	c1, c2 := newClient(t), newClient(t)
	id := cosign.WithIdentities(cosign.Identity{Issuer: issuer, Subject: subject})
	keyed := []cosign.Option{cosign.WithKeys(k1.PublicKeyPEM())}
	keyless := []cosign.Option{id}

	tests := []struct {
		name          string
		base          []cosign.Option
		first, second cosign.Option
		// secondAlone is false when the second option cannot stand with
		// the base alone (it needs the other mode).
		secondAlone bool
		want        string
	}{
		{"two trusted roots from JSON", keyless, cosign.WithTrustedRootJSON(root1), cosign.WithTrustedRootJSON(root2), true,
			"WithTrustedRootJSON given twice"},
		{"trusted root JSON, then file", keyless, cosign.WithTrustedRootJSON(root1), cosign.WithTrustedRootFile(rootFile2), true,
			"WithTrustedRootFile conflicts with WithTrustedRootJSON"},
		{"trusted root file, then JSON", keyless, cosign.WithTrustedRootFile(rootFile1), cosign.WithTrustedRootJSON(root2), true,
			"WithTrustedRootJSON conflicts with WithTrustedRootFile"},
		{"two trusted root files", keyless, cosign.WithTrustedRootFile(rootFile1), cosign.WithTrustedRootFile(rootFile2), true,
			"WithTrustedRootFile given twice"},
		{"trusted root JSON and public-good TUF", keyless, cosign.WithTrustedRootJSON(root1), cosign.WithPublicGoodTUF(dir), true,
			"WithPublicGoodTUF conflicts with WithTrustedRootJSON"},
		{"public-good TUF and trusted root JSON", keyless, cosign.WithPublicGoodTUF(dir), cosign.WithTrustedRootJSON(root1), true,
			"WithTrustedRootJSON conflicts with WithPublicGoodTUF"},
		{"trusted root file and public-good TUF", keyless, cosign.WithTrustedRootFile(rootFile1), cosign.WithPublicGoodTUF(""), true,
			"WithPublicGoodTUF conflicts with WithTrustedRootFile"},
		{"two public-good TUF caches", keyless, cosign.WithPublicGoodTUF(dir), cosign.WithPublicGoodTUF(""), true,
			"WithPublicGoodTUF given twice"},
		{"two clients", keyed, cosign.WithClient(c1), cosign.WithClient(c2), true,
			"WithClient given twice"},
		{"client, then registry options", keyed, cosign.WithClient(c1), cosign.WithRegistryOptions(oci.WithInsecure()), true,
			"WithRegistryOptions conflicts with WithClient"},
		{"registry options, then client", keyed, cosign.WithRegistryOptions(oci.WithInsecure()), cosign.WithClient(c1), true,
			"WithClient conflicts with WithRegistryOptions"},
		{"two formats", keyed, cosign.WithFormat(verify.FormatLegacy), cosign.WithFormat(verify.FormatBundle), true,
			"WithFormat given twice"},
		{"two signature limits", keyed, cosign.WithMaxSignatures(5), cosign.WithMaxSignatures(50), true,
			"WithMaxSignatures given twice"},
		{"two attachment limits", keyed, cosign.WithMaxAttachmentSize(1 << 10), cosign.WithMaxAttachmentSize(1 << 20), true,
			"WithMaxAttachmentSize given twice"},
		{"two names", keyed, cosign.WithName("release"), cosign.WithName("nightly"), true,
			"WithName given twice"},
		{"keys and identities", []cosign.Option{cosign.WithTrustedRootJSON(root1)}, cosign.WithKeys(k1.PublicKeyPEM()), id, true,
			"WithKeys conflicts with WithIdentities"},
		{"key files and identities", []cosign.Option{cosign.WithTrustedRootJSON(root1)}, cosign.WithKeyFiles(keyFile1), id, true,
			"WithKeyFiles conflicts with WithIdentities"},
		{"keys and any identity", []cosign.Option{cosign.WithTrustedRootJSON(root1)}, cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithoutIdentityUnsafe(), true,
			"WithKeys conflicts with WithoutIdentityUnsafe"},
		{"keys and a demanded SCT", []cosign.Option{cosign.WithTrustedRootJSON(ctRoot)}, cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithRequireSCT(), false,
			"WithKeys conflicts with WithRequireSCT"},
		{"keys and a demanded signed timestamp", []cosign.Option{cosign.WithTrustedRootJSON(root1)}, cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithRequireSignedTimestamp(), false,
			"WithKeys conflicts with WithRequireSignedTimestamp"},
		{"identities and any identity", []cosign.Option{cosign.WithTrustedRootJSON(root1)}, id, cosign.WithoutIdentityUnsafe(), true,
			"WithIdentities conflicts with WithoutIdentityUnsafe"},
		{"one key given twice", nil, cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithKeys(k1.PublicKeyPEM()), true,
			"key 2 is the same key as key 1"},
		{"one key file given twice", nil, cosign.WithKeyFiles(keyFile1), cosign.WithKeyFiles(keyFile1), true,
			"key file " + keyFile1 + " given twice"},
		{"one key as file and as PEM", nil, cosign.WithKeyFiles(keyFile1), cosign.WithKeys(k1.PublicKeyPEM()), true,
			"key 2 is the same key as " + keyFile1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			with := func(opts ...cosign.Option) []cosign.Option {
				return append(append([]cosign.Option(nil), tt.base...), opts...)
			}
			if _, err := cosign.New(with(tt.first)...); err != nil {
				t.Fatalf("the first option alone is refused: %v", err)
			}
			if tt.secondAlone {
				if _, err := cosign.New(with(tt.second)...); err != nil {
					t.Fatalf("the second option alone is refused: %v", err)
				}
			}
			_, err := cosign.New(with(tt.first, tt.second)...)
			if !errors.Is(err, cosign.ErrInvalidOption) {
				t.Fatalf("New = %v, want ErrInvalidOption", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestKeyNames checks that keys are named uniquely across options, so that
// a message says which key failed.
func TestKeyNames(t *testing.T) {
	k1, k2, other := mustKey(t, verifytest.KeyECDSAP256), mustKey(t, verifytest.KeyECDSAP256), mustKey(t, verifytest.KeyECDSAP256)
	keyFile := filepath.Join(t.TempDir(), "release.pub")
	if err := os.WriteFile(keyFile, k2.PublicKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.sign(t, verifytest.SignLegacy, e.ref, other)
	tests := []struct {
		name string
		opts []cosign.Option
		want []string
	}{
		{"one WithKeys", []cosign.Option{cosign.WithKeys(k1.PublicKeyPEM(), k2.PublicKeyPEM())}, []string{"key 1: ", "key 2: "}},
		{"two WithKeys", []cosign.Option{cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithKeys(k2.PublicKeyPEM())}, []string{"key 1: ", "key 2: "}},
		{"WithKeys and WithKeyFiles", []cosign.Option{cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithKeyFiles(keyFile)}, []string{"key 1: ", keyFile + ": "}},
		{"several keys in one PEM", []cosign.Option{cosign.WithKeys(append(k1.PublicKeyPEM(), k2.PublicKeyPEM()...))}, []string{"key 1: ", "key 1#2: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustVerifier(t, append([]cosign.Option{cosign.WithClient(e.client), cosign.WithFormat(verify.FormatLegacy)}, tt.opts...)...)
			_, err := expect(t, v, e.ref, rejected)
			for _, w := range tt.want {
				if strings.Count(err.Error(), w) != 1 {
					t.Errorf("message names %q %d times, want once:\n%v", w, strings.Count(err.Error(), w), err)
				}
			}
		})
	}
	t.Run("invalid key in a second WithKeys", func(t *testing.T) {
		_, err := cosign.New(cosign.WithKeys(k1.PublicKeyPEM()), cosign.WithKeys([]byte("not a key")))
		if !errors.Is(err, cosign.ErrInvalidKey) || !strings.Contains(err.Error(), "key 2: ") {
			t.Errorf("New = %v, want ErrInvalidKey naming key 2", err)
		}
	})
}

// TestIdentityMessages pins the wording of identity errors: each says what
// is wrong once, with the identity in braces.
func TestIdentityMessages(t *testing.T) {
	_, rootJSON := mustSigstore(t)
	tests := []struct {
		id   cosign.Identity
		want string
	}{
		{cosign.Identity{Issuer: issuer},
			`identity {issuer "https://issuer.example", no subject}: a subject is required (set Subject or SubjectRegExp)`},
		{cosign.Identity{SubjectRegExp: ".*@example.com"},
			`identity {no issuer, subject ~".*@example.com"}: an issuer is required (set Issuer or IssuerRegExp)`},
		{cosign.Identity{Issuer: issuer, IssuerRegExp: "https://.*", Subject: subject},
			`identity {issuer "https://issuer.example" and ~"https://.*", subject "release@example.com"}: set Issuer or IssuerRegExp, not both`},
		{cosign.Identity{Issuer: issuer, Subject: subject, SubjectRegExp: "x"},
			`identity {issuer "https://issuer.example", subject "release@example.com" and ~"x"}: set Subject or SubjectRegExp, not both`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := cosign.New(cosign.WithTrustedRootJSON(rootJSON), cosign.WithIdentities(tt.id))
			if !errors.Is(err, cosign.ErrInvalidOption) {
				t.Fatalf("New = %v, want ErrInvalidOption", err)
			}
			if got := strings.TrimPrefix(err.Error(), cosign.ErrInvalidOption.Error()+": "); got != tt.want {
				t.Errorf("message\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	if got, want := (cosign.Identity{}).String(), "{no issuer, no subject}"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func newClient(t *testing.T, opts ...oci.Option) *oci.Client {
	t.Helper()
	c, err := oci.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
