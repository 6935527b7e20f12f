package ocitest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/ocisource/ocisource/oci"
	"github.com/ocisource/ocisource/oci/ocitest"
)

// A registry that serves other bytes than the ones asked for is caught, and
// the request log shows what the client did.
func Example() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()

	desc, err := reg.PushBytes(ctx, "app:v1", oci.MediaTypeFluxContent, []byte("genuine content"))
	if err != nil {
		log.Fatal(err)
	}
	reg.ResetRequests()

	reg.Inject(ocitest.Fault{Method: http.MethodGet, PathContains: "/manifests/", Body: []byte(`{"schemaVersion":2}`)})
	_, err = reg.Client().Manifest(ctx, reg.Ref("app").WithDigest(desc.Digest))
	fmt.Println(errors.Is(err, oci.ErrDigestMismatch))
	for _, r := range reg.Requests() {
		fmt.Println(r.Method, r.Status, r.Fault)
	}
	// Output:
	// true
	// GET 200 false
	// GET 200 true
}
