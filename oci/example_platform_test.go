package oci_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// An index offers a manifest per platform; PlatformManifest follows it to
// the one for the platform asked for, and says which ones there are when
// the platform is missing.
func ExampleClient_PlatformManifest() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()
	amd, _ := reg.PushBytes(ctx, "app:amd64", oci.MediaTypeFluxContent, []byte("amd64"))
	arm, _ := reg.PushBytes(ctx, "app:arm64", oci.MediaTypeFluxContent, []byte("arm64"))
	amd.Platform = &oci.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	idx, _ := reg.PushIndex(ctx, "app:v1", oci.MediaTypeOCIIndex, amd, arm)

	c := reg.Client()
	ref := reg.Ref("app").WithDigest(idx.Digest)
	m, _ := c.Manifest(ctx, ref)
	platform, _ := oci.ParsePlatform("linux/arm64")
	image, _ := c.PlatformManifest(ctx, ref, m, &platform)
	fmt.Println(image.Descriptor.Digest == arm.Digest, image.Descriptor.Platform)

	_, err := c.PlatformManifest(ctx, ref, m, nil)
	var pe *oci.PlatformError
	fmt.Println(errors.As(err, &pe), pe.Offered)
	// Output:
	// true linux/arm64/v8
	// true [linux/amd64 linux/arm64/v8]
}
