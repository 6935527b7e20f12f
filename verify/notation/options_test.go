package notation_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/verify/notation"
	"github.com/ocisource/ocisource/verify/verifytest"
)

func TestNewRefuses(t *testing.T) {
	ca, err := verifytest.NewNotationCA("root")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("leaf")
	if err != nil {
		t.Fatal(err)
	}
	leafPEM := pemOf(leaf)
	good := ca.TrustPolicy(false)
	store := notation.WithTrustStore(notation.StoreCA, verifytest.NotationStore, ca.CertificatePEM())
	policy := func(body string) notation.Option { return notation.WithTrustPolicy([]byte(body)) }
	for _, tc := range []struct {
		name   string
		opts   []notation.Option
		target error
		say    string
	}{
		{"no policy", []notation.Option{store}, notation.ErrInvalidOption, "no trust policy"},
		{"malformed JSON", []notation.Option{policy(`{"version": "1.0", `), store}, notation.ErrInvalidTrustPolicy, "malformed"},
		{"unknown field", []notation.Option{policy(strings.Replace(string(good), `"registryScopes"`, `"registryScope"`, 1)), store}, notation.ErrInvalidTrustPolicy, "registryScope"},
		{"trailing data", []notation.Option{policy(string(good) + "{}"), store}, notation.ErrInvalidTrustPolicy, "trailing"},
		{"unsupported version", []notation.Option{policy(strings.Replace(string(good), `"1.0"`, `"2.0"`, 1)), store}, notation.ErrInvalidTrustPolicy, "version"},
		{"empty document", []notation.Option{policy(""), store}, notation.ErrInvalidTrustPolicy, "empty"},
		{"bad level", []notation.Option{policy(string(verifytest.NotationTrustPolicy("paranoid", false))), store}, notation.ErrInvalidTrustPolicy, "paranoid"},
		{"permissive without opt-in", []notation.Option{policy(string(verifytest.NotationTrustPolicy("permissive", false))), store}, notation.ErrInvalidTrustPolicy, "WithLenientLevelsUnsafe"},
		{"audit without opt-in", []notation.Option{policy(string(verifytest.NotationTrustPolicy("audit", false))), store}, notation.ErrInvalidTrustPolicy, "authenticity"},
		{"skip without opt-in", []notation.Option{policy(string(verifytest.NotationTrustPolicy("skip", false)))}, notation.ErrInvalidTrustPolicy, "skip"},
		{"store missing", []notation.Option{policy(string(good))}, notation.ErrInvalidTrustStore, "ca:verifytest"},
		{"tsa store missing", []notation.Option{policy(string(ca.TrustPolicy(true))), store}, notation.ErrInvalidTrustStore, "tsa:verifytest"},
		{"flat certificates do not fill tsa", []notation.Option{policy(string(ca.TrustPolicy(true))), notation.WithCertificates(ca.CertificatePEM())}, notation.ErrInvalidTrustStore, "tsa:verifytest"},
		{"leaf in a ca store", []notation.Option{policy(string(good)), notation.WithTrustStore(notation.StoreCA, verifytest.NotationStore, leafPEM)}, notation.ErrInvalidTrustStore, "not a CA"},
		{"garbage certificate", []notation.Option{policy(string(good)), notation.WithTrustStore(notation.StoreCA, verifytest.NotationStore, []byte("not a certificate"))}, notation.ErrInvalidTrustStore, "DER"},
		{"unknown store type", []notation.Option{policy(string(good)), notation.WithTrustStore("x509", "a", ca.CertificatePEM())}, notation.ErrInvalidTrustStore, "type"},
		{"bad store name", []notation.Option{policy(string(good)), notation.WithTrustStore(notation.StoreCA, "../x", ca.CertificatePEM())}, notation.ErrInvalidTrustStore, "name"},
		{"two policies", []notation.Option{policy(string(good)), notation.WithTrustPolicyFile("x"), store}, notation.ErrInvalidOption, "conflicts"},
		{"policy twice", []notation.Option{policy(string(good)), policy(string(good)), store}, notation.ErrInvalidOption, "twice"},
		{"client conflict", []notation.Option{policy(string(good)), store, notation.WithRegistryOptions(), notation.WithClient(verifytestClient(t))}, notation.ErrInvalidOption, "conflicts"},
		{"max signatures 0", []notation.Option{policy(string(good)), store, notation.WithMaxSignatures(0)}, notation.ErrInvalidOption, "at least 1"},
		{"max envelope twice", []notation.Option{policy(string(good)), store, notation.WithMaxEnvelopeSize(10), notation.WithMaxEnvelopeSize(20)}, notation.ErrInvalidOption, "twice"},
		{"nil option", []notation.Option{policy(string(good)), store, nil}, notation.ErrInvalidOption, "nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := notation.New(tc.opts...)
			if err == nil {
				t.Fatalf("New accepted it: %v", v)
			}
			if !errors.Is(err, tc.target) || !errors.Is(err, notation.ErrInvalidOption) {
				t.Errorf("err = %v, want %v", err, tc.target)
			}
			if !strings.Contains(err.Error(), tc.say) {
				t.Errorf("err = %v, want it to say %q", err, tc.say)
			}
		})
	}
}

func TestLenientLevels(t *testing.T) {
	e := newEnv(t)
	other, err := verifytest.NewNotationCA("other")
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := other.Issue("mallory")
	if err != nil {
		t.Fatal(err)
	}
	e.sign(t, e.ref, mallory)
	lenient := func(level string) *notation.Verifier {
		v, err := notation.New(notation.WithTrustPolicy(verifytest.NotationTrustPolicy(level, false)),
			notation.WithCertificates(e.ca.CertificatePEM()), notation.WithClient(e.client), notation.WithLenientLevelsUnsafe())
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return v
	}
	// permissive still enforces authenticity.
	if _, err := lenient("permissive").Verify(t.Context(), e.ref); !errors.Is(err, notation.ErrInvalidSignature) {
		t.Errorf("permissive: err = %v, want ErrInvalidSignature", err)
	}
	// audit does not: the untrusted signature passes, marked as such.
	res, err := lenient("audit").Verify(t.Context(), e.ref)
	if err != nil || res.Signatures[0].Level != "audit" {
		t.Errorf("audit: res = %+v, err = %v; want an accepted signature at level audit", res, err)
	}
	// skip verifies nothing and says so, without a request.
	v, err := notation.New(notation.WithTrustPolicy(verifytest.NotationTrustPolicy("skip", false)), notation.WithClient(e.client), notation.WithLenientLevelsUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	e.reg.ResetRequests()
	res, err = v.Verify(t.Context(), e.ref)
	if err != nil || res.Signatures[0].Level != "skip" {
		t.Errorf("skip: res = %+v, err = %v", res, err)
	}
	if n := len(e.reg.Requests()); n != 0 {
		t.Errorf("skip: %d requests", n)
	}
}

func TestTrustStoreDirAndPolicyFile(t *testing.T) {
	e := newEnv(t)
	e.sign(t, e.ref, e.signer)
	dir := t.TempDir()
	store := filepath.Join(dir, "truststore", "x509", "ca", verifytest.NotationStore)
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "root.crt"), e.ca.CertificatePEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "trustpolicy.json")
	if err := os.WriteFile(policyFile, e.ca.TrustPolicy(false), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := notation.New(notation.WithTrustPolicyFile(policyFile), notation.WithTrustStoreDir(filepath.Join(dir, "truststore")), notation.WithClient(e.client))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := v.Verify(t.Context(), e.ref); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// A symbolic link in a store is refused, as notation refuses it.
	if err := os.Symlink(filepath.Join(store, "root.crt"), filepath.Join(store, "link.crt")); err != nil {
		t.Skip(err)
	}
	if _, err := notation.New(notation.WithTrustPolicyFile(policyFile), notation.WithTrustStoreDir(filepath.Join(dir, "truststore"))); !errors.Is(err, notation.ErrInvalidTrustStore) {
		t.Errorf("symlink: err = %v, want ErrInvalidTrustStore", err)
	}
}
