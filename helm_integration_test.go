package ocisource_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisource/ocisource"
	"github.com/ocisource/ocisource/internal/realregistry"
	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// TestIntegrationHelmChart fetches charts that the real helm CLI packaged
// and pushed to a real registry (Distribution, TLS, htpasswd): the highest
// version of a semver range, with "+build" versions stored as "_" tags,
// copied as the .tgz helm wrote (named as helm names it) or extracted, and
// verified with a cosign signature on the chart's digest.
func TestIntegrationHelmChart(t *testing.T) {
	reg := realregistry.Start(t)
	ctx := context.Background()
	work := t.TempDir()
	helm := func(args ...string) string {
		t.Helper()
		cmd := reg.Command(t, "helm", args...)
		cmd.Env = append(cmd.Env,
			"HELM_REGISTRY_CONFIG="+filepath.Join(reg.DockerConfigDir, "config.json"),
			"HELM_CACHE_HOME="+filepath.Join(work, "cache"),
			"HELM_CONFIG_HOME="+filepath.Join(work, "config"),
			"HELM_DATA_HOME="+filepath.Join(work, "data"),
		)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	chart := filepath.Join(work, "demo")
	writeTree(t, chart, map[string]string{
		"Chart.yaml":            "apiVersion: v2\nname: demo\nversion: 0.0.0\n",
		"values.yaml":           "replicas: 1\n",
		"templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n",
	})
	packages := filepath.Join(work, "packages")
	for _, v := range []string{"1.0.0", "1.2.3+build.7", "2.0.0"} {
		helm("package", chart, "--version", v, "--destination", packages)
		helm("push", filepath.Join(packages, "demo-"+v+".tgz"), "oci://"+reg.Host+"/charts", "--ca-file", reg.CAFile)
	}

	client, err := oci.NewClient(oci.WithCAFile(reg.CAFile), oci.WithBasicAuth(reg.Username, reg.Password))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ocisource.NewFetcher(ocisource.WithClient(client))
	if err != nil {
		t.Fatal(err)
	}
	src := ocisource.Source{
		URL:   "oci://" + reg.Host + "/charts/demo",
		Ref:   ocisource.Ref{SemVer: ">=1.0.0 <2.0.0"},
		Layer: ocisource.LayerSelector{MediaType: oci.MediaTypeHelmChart, Operation: ocisource.LayerCopy},
	}

	// Copy: the .tgz helm wrote, byte for byte, under helm's own name.
	dir := filepath.Join(work, "copy")
	a, err := f.Fetch(ctx, src, dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Tag != "1.2.3_build.7" {
		t.Errorf("tag = %q, want 1.2.3_build.7 (chart version 1.2.3+build.7)", a.Tag)
	}
	want, _ := os.ReadFile(filepath.Join(packages, "demo-1.2.3+build.7.tgz"))
	got, err := os.ReadFile(filepath.Join(dir, "demo-1.2.3+build.7.tgz"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("copied chart: %v (%d bytes, want the %d helm packaged)", err, len(got), len(want))
	}

	// Extract: the chart's files.
	src.Layer.Operation = ocisource.LayerExtract
	dir = filepath.Join(work, "extract")
	if _, err := f.Fetch(ctx, src, dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "demo", "Chart.yaml")); err != nil || !strings.Contains(string(b), "version: 1.2.3+build.7") {
		t.Errorf("demo/Chart.yaml = %q, %v", b, err)
	}

	// A chart signed with cosign (on the chart's manifest digest) verifies;
	// an unsigned one is refused.
	key, _ := verifytest.NewKeyPair()
	repo, _ := oci.ParseURL(src.URL)
	pinned := repo.WithTag("1.2.3_build.7").WithDigest(a.Digest)
	if _, err := verifytest.SignLegacy(ctx, client, pinned, key, verifytest.WithoutTransparencyLog()); err != nil {
		t.Fatal(err)
	}
	v, err := cosign.New(cosign.WithKeys(key.PublicKeyPEM()))
	if err != nil {
		t.Fatal(err)
	}
	src.Verifier = v
	src.Layer.Operation = ocisource.LayerCopy
	if a, err := f.Fetch(ctx, src, filepath.Join(work, "verified")); err != nil || a.Verification == nil {
		t.Fatalf("signed chart: %v", err)
	}
	src.Ref = ocisource.Ref{Tag: "2.0.0"}
	if _, err := f.Fetch(ctx, src, filepath.Join(work, "unsigned")); !errors.Is(err, ocisource.ErrVerification) {
		t.Errorf("unsigned chart: error = %v, want ErrVerification", err)
	}
}
