package cosign_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/verify"
	"github.com/ocisource/ocisource/verify/cosign"
	"github.com/ocisource/ocisource/verify/verifytest"
)

// BenchmarkVerifyKeyed verifies an artifact carrying n legacy signatures,
// each by a different key, with a verifier that trusts the last one, so all
// n are checked, against the in-memory registry (requests included).
func BenchmarkVerifyKeyed(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("signatures=%d", n), func(b *testing.B) {
			ctx := context.Background()
			reg := ocitest.New()
			defer reg.Close()
			client := reg.Client()
			d, err := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("content"))
			if err != nil {
				b.Fatal(err)
			}
			ref := reg.Ref("app:v1").WithDigest(d.Digest)
			var last *verifytest.KeyPair
			for i := 0; i < n; i++ {
				if last, err = verifytest.NewKeyPair(); err != nil {
					b.Fatal(err)
				}
				if _, err := verifytest.SignLegacy(ctx, client, ref, last, verifytest.WithoutTransparencyLog()); err != nil {
					b.Fatal(err)
				}
			}
			v, err := cosign.New(cosign.WithClient(client), cosign.WithKeys(last.PublicKeyPEM()), cosign.WithFormat(verify.FormatLegacy))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := v.Verify(ctx, ref)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Signatures) != 1 {
					b.Fatalf("%d signatures verified, want 1", len(res.Signatures))
				}
			}
		})
	}
}
