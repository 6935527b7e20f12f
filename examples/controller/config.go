package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/tarball"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/notation"
)

// ociRepository is the part of Flux's OCIRepository (apiVersion
// source.toolkit.fluxcd.io/v1) this controller reads.
type ociRepository struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		URL string `yaml:"url"`
		Ref struct {
			Tag          string `yaml:"tag"`
			SemVer       string `yaml:"semver"`
			SemVerFilter string `yaml:"semverFilter"`
			Digest       string `yaml:"digest"`
		} `yaml:"ref"`
		LayerSelector struct {
			MediaType string `yaml:"mediaType"`
			Operation string `yaml:"operation"`
		} `yaml:"layerSelector"`
		Ignore   string `yaml:"ignore"`
		Interval string `yaml:"interval"`
		Timeout  string `yaml:"timeout"`
		Insecure bool   `yaml:"insecure"`
		Suspend  bool   `yaml:"suspend"`
		Verify   *struct {
			Provider  string `yaml:"provider"`
			SecretRef *struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
			MatchOIDCIdentity []struct {
				Issuer  string `yaml:"issuer"`
				Subject string `yaml:"subject"`
			} `yaml:"matchOIDCIdentity"`
		} `yaml:"verify"`
	} `yaml:"spec"`
}

// sourceSpec is one OCIRepository turned into what the Reconciler takes.
type sourceSpec struct {
	name     string // namespace/name
	spec     ocisource.Spec
	insecure bool
	// key identifies the verification settings, so an unchanged
	// configuration gives an equal spec (and the same verifier value).
	verifyKey string
}

const apiVersion = "source.toolkit.fluxcd.io/v1"

// parseConfig reads every OCIRepository document of r. Documents of other
// kinds are skipped; an OCIRepository that cannot be used is an error naming
// it, and the whole file is refused (the previous one stays in force).
func parseConfig(r io.Reader, cfg *config) ([]sourceSpec, error) {
	dec := yaml.NewDecoder(r)
	var out []sourceSpec
	seen := map[string]bool{}
	for i := 1; ; i++ {
		var doc ociRepository
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if doc.Kind != "OCIRepository" {
			continue
		}
		if doc.APIVersion != apiVersion && doc.APIVersion != "source.toolkit.fluxcd.io/v1beta2" {
			return nil, fmt.Errorf("document %d: apiVersion %q: want %s", i, doc.APIVersion, apiVersion)
		}
		s, err := doc.toSpec(cfg)
		if err != nil {
			return nil, fmt.Errorf("OCIRepository %s/%s: %w", doc.namespace(), doc.Metadata.Name, err)
		}
		if seen[s.name] {
			return nil, fmt.Errorf("OCIRepository %s appears twice", s.name)
		}
		seen[s.name] = true
		out = append(out, s)
	}
}

func (d *ociRepository) namespace() string {
	if d.Metadata.Namespace == "" {
		return "default"
	}
	return d.Metadata.Namespace
}

// validName is a Kubernetes DNS-1123 label: it becomes a directory name.
func validName(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (d *ociRepository) toSpec(cfg *config) (sourceSpec, error) {
	ns := d.namespace()
	if !validName(d.Metadata.Name) || !validName(ns) {
		return sourceSpec{}, fmt.Errorf("metadata.name and namespace must be DNS labels (lowercase letters, digits, '-')")
	}
	sp := d.Spec
	s := sourceSpec{name: ns + "/" + d.Metadata.Name, insecure: sp.Insecure}
	interval, err := parseDuration("interval", sp.Interval, 0)
	if err != nil {
		return s, err
	}
	if interval == 0 {
		return s, errors.New("spec.interval is required (e.g. 5m)")
	}
	timeout, err := parseDuration("timeout", sp.Timeout, 60*time.Second)
	if err != nil {
		return s, err
	}
	src := ocisource.Source{
		URL:   sp.URL,
		Ref:   ocisource.Ref{Tag: sp.Ref.Tag, SemVer: sp.Ref.SemVer, SemVerFilter: sp.Ref.SemVerFilter, Digest: sp.Ref.Digest},
		Layer: ocisource.LayerSelector{MediaType: sp.LayerSelector.MediaType, Operation: ocisource.LayerOperation(sp.LayerSelector.Operation)},
	}
	if sp.Ignore != "" {
		src.Ignore = strings.Split(sp.Ignore, "\n")
		if err := tarball.ValidatePatterns(src.Ignore...); err != nil {
			return s, fmt.Errorf("spec.ignore: %w", err)
		}
	} else {
		// Flux leaves out version-control metadata unless told otherwise.
		src.Ignore = tarball.DefaultIgnorePatterns()
	}
	if v := sp.Verify; v != nil {
		var key string
		var build func() (verify.Verifier, error)
		switch v.Provider {
		case "", "cosign":
			opts, k, err := verifyOptions(cfg, ns, v.SecretRef, v.MatchOIDCIdentity)
			if err != nil {
				return s, err
			}
			key, build = k, func() (verify.Verifier, error) { return cosign.New(opts...) }
		case "notation":
			opts, k, err := notationOptions(cfg, ns, v.SecretRef, len(v.MatchOIDCIdentity) > 0)
			if err != nil {
				return s, err
			}
			key, build = k, func() (verify.Verifier, error) { return notation.New(opts...) }
		default:
			return s, fmt.Errorf("spec.verify.provider %q: want cosign or notation", v.Provider)
		}
		verifier, err := cfg.verifiers.get(key, build)
		if err != nil {
			return s, fmt.Errorf("spec.verify: %w", err)
		}
		src.Verifier = verifier
		s.verifyKey = key
	}
	s.spec = ocisource.Spec{Source: src, Dir: filepath.Join(cfg.dataDir, ns, d.Metadata.Name), Interval: interval, Timeout: timeout, Suspend: sp.Suspend}
	return s, nil
}

// verifyOptions builds cosign options from a secretRef (a directory of
// public keys, as a Secret mounted under --secrets) and OIDC identities
// (checked against --trusted-root).
func verifyOptions(cfg *config, ns string, ref *struct {
	Name string `yaml:"name"`
}, ids []struct {
	Issuer  string `yaml:"issuer"`
	Subject string `yaml:"subject"`
}) ([]cosign.Option, string, error) {
	switch {
	case ref != nil && len(ids) > 0:
		return nil, "", errors.New("spec.verify: give secretRef (keys) or matchOIDCIdentity (keyless), not both")
	case ref != nil:
		if !validName(ref.Name) {
			return nil, "", fmt.Errorf("spec.verify.secretRef.name %q is not a DNS label", ref.Name)
		}
		dir := filepath.Join(cfg.secretsDir, ns, ref.Name)
		keys, err := filepath.Glob(filepath.Join(dir, "*.pub"))
		if err != nil || len(keys) == 0 {
			return nil, "", fmt.Errorf("spec.verify.secretRef %q: no *.pub key in %s (mount the Secret there)", ref.Name, dir)
		}
		var pems [][]byte
		for _, k := range keys {
			b, err := os.ReadFile(k)
			if err != nil {
				return nil, "", err
			}
			pems = append(pems, b)
		}
		return []cosign.Option{cosign.WithKeys(pems...)}, "keys:" + string(bytes.Join(pems, nil)), nil
	case len(ids) > 0:
		if cfg.trustedRoot == "" {
			return nil, "", errors.New("spec.verify.matchOIDCIdentity needs the controller's --trusted-root")
		}
		var idents []cosign.Identity
		key := "keyless:"
		for _, id := range ids {
			idents = append(idents, cosign.Identity{IssuerRegExp: id.Issuer, SubjectRegExp: id.Subject})
			key += id.Issuer + "\x00" + id.Subject + "\x00"
		}
		return []cosign.Option{cosign.WithTrustedRootFile(cfg.trustedRoot), cosign.WithIdentities(idents...)}, key, nil
	}
	return nil, "", errors.New("spec.verify needs secretRef or matchOIDCIdentity")
}

// notationOptions builds notation options from a secretRef, as Flux's
// provider: notation takes it: a Secret (mounted under --secrets) holding
// trustpolicy.json and the trusted CA certificates as *.crt or *.pem.
func notationOptions(cfg *config, ns string, ref *struct {
	Name string `yaml:"name"`
}, oidc bool) ([]notation.Option, string, error) {
	if oidc {
		return nil, "", errors.New("spec.verify.matchOIDCIdentity is for provider cosign; notation trusts the certificates of its secretRef")
	}
	if ref == nil {
		return nil, "", errors.New("spec.verify.provider notation needs a secretRef holding trustpolicy.json and CA certificates")
	}
	if !validName(ref.Name) {
		return nil, "", fmt.Errorf("spec.verify.secretRef.name %q is not a DNS label", ref.Name)
	}
	dir := filepath.Join(cfg.secretsDir, ns, ref.Name)
	policy, err := os.ReadFile(filepath.Join(dir, "trustpolicy.json"))
	if err != nil {
		return nil, "", fmt.Errorf("spec.verify.secretRef %q: no trustpolicy.json in %s (mount the Secret there): %w", ref.Name, dir, err)
	}
	var files []string
	for _, pat := range []string{"*.crt", "*.pem"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("spec.verify.secretRef %q: no *.crt or *.pem certificate in %s", ref.Name, dir)
	}
	var certs [][]byte
	key := "notation:" + string(policy)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, "", err
		}
		certs = append(certs, b)
		key += "\x00" + string(b)
	}
	return []notation.Option{notation.WithTrustPolicy(policy), notation.WithCertificates(certs...)}, key, nil
}

func parseDuration(field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("spec.%s %q: want a positive duration such as 5m or 1h30m", field, s)
	}
	return d, nil
}

// verifierCache keeps one verifier per verification setting, so reloading
// an unchanged file gives equal specs (the Reconciler then does nothing).
type verifierCache struct {
	m map[string]verify.Verifier
}

func (c *verifierCache) get(key string, build func() (verify.Verifier, error)) (verify.Verifier, error) {
	if v, ok := c.m[key]; ok {
		return v, nil
	}
	v, err := build()
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]verify.Verifier{}
	}
	c.m[key] = v
	return v, nil
}
