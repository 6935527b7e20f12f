package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

func mirror(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMirrorRegistryLayoutRegistry(t *testing.T) {
	ctx := context.Background()
	src := ocitest.NewT(t)
	d, err := src.PushBytes(ctx, "org/app:1.0.0", oci.MediaTypeFluxContent, []byte("release"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := src.PushBytes(ctx, "org/app:"+oci.CosignTag(d.Digest, oci.CosignSignature), "application/vnd.dev.cosign.simplesigning.v1+json", []byte("sig"))
	if err != nil {
		t.Fatal(err)
	}
	// A relative layout directory is taken from the working directory.
	t.Chdir(t.TempDir())
	code, out, errOut := mirror(t, "--insecure", "oci://"+src.Host()+"/org/app:1.0.0", "oci-layout://airgap")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "copied "+string(d.Digest)) || !strings.Contains(out, ".sig") {
		t.Errorf("output does not name the artifact and its signature:\n%s", out)
	}
	abs, _ := filepath.Abs("airgap")
	if _, err := os.Stat(filepath.Join(abs, "index.json")); err != nil {
		t.Fatal(err)
	}

	dst := ocitest.NewT(t)
	code, out, errOut = mirror(t, "--insecure", "--json", "oci-layout://airgap:1.0.0", dst.Host()+"/mirror/app")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res oci.CopyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if res.Descriptor.Digest != d.Digest || res.Tag != "1.0.0" || len(res.Attachments) != 1 || res.Attachments[0].Descriptor.Digest != sig.Digest {
		t.Errorf("result = %+v", res)
	}
	c := dst.Client()
	if got, err := c.Resolve(ctx, dst.Ref("mirror/app:1.0.0")); err != nil || got.Digest != d.Digest {
		t.Errorf("mirror tag = %v, %v", got.Digest, err)
	}
	if got, err := c.Resolve(ctx, dst.Ref("mirror/app:"+oci.CosignTag(d.Digest, oci.CosignSignature))); err != nil || got.Digest != sig.Digest {
		t.Errorf("mirror .sig = %v, %v", got.Digest, err)
	}

	// Again: nothing to send, and -v says so.
	code, out, errOut = mirror(t, "--insecure", "-v", "oci-layout://airgap:1.0.0", dst.Host()+"/mirror/app")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "0 blobs (0 bytes) written") || !strings.Contains(errOut, "present") || strings.Contains(errOut, "blob     copied") {
		t.Errorf("second run:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

func TestMirrorFailures(t *testing.T) {
	src := ocitest.NewT(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no arguments", nil, exitUsage, "want SRC and DST"},
		{"one argument", []string{"oci://" + src.Host() + "/app"}, exitUsage, "want SRC and DST"},
		{"bad source", []string{"oci://example.com/UPPER", "oci-layout://" + dir}, exitUsage, "SRC"},
		{"bad flag", []string{"--nope", "a", "b"}, exitUsage, "nope"},
		{"bad limit", []string{"--insecure", "--max-manifests", "0", "oci://" + src.Host() + "/app:v1", "oci-layout://" + dir}, exitUsage, "WithCopyMaxManifests"},
		{"bad jobs", []string{"--insecure", "--jobs", "0", "oci://" + src.Host() + "/app:v1", "oci-layout://" + dir}, exitUsage, "WithCopyJobs"},
		{"missing tag", []string{"--insecure", "oci://" + src.Host() + "/app:v1", "oci-layout://" + dir}, exitFailed, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := mirror(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tc.code, tc.want)
			}
		})
	}
	if code, out, _ := mirror(t, "--help"); code != exitOK || !strings.Contains(out, "Usage: ocimirror") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}
