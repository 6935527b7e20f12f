package semverref_test

import (
	"context"
	"fmt"

	"github.com/ocisource/ocisource/oci/ocitest"
	"github.com/ocisource/ocisource/semverref"
)

// Resolve a semver range against the tags of a repository: list them with
// oci.Client.Tags, pick one, then use it as the reference's tag.
func Example_ociTags() {
	ctx := context.Background()
	reg := ocitest.New()
	defer reg.Close()

	files := map[string]string{"app.yaml": "kind: ConfigMap\n"}
	for _, tag := range []string{"app:1.0.0", "app:v1.0.3", "app:1.1.0-rc.1", "app:1.1.0", "app:latest"} {
		if _, err := reg.PushFiles(ctx, tag, files); err != nil {
			fmt.Println(err)
			return
		}
	}

	repo := reg.Ref("app")
	tags, err := reg.Client().Tags(ctx, repo)
	if err != nil {
		fmt.Println(err)
		return
	}
	tag, err := semverref.Resolve(tags, "~1.0")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tag)
	fmt.Println(repo.WithTag(tag).Tag)
	// Output:
	// v1.0.3
	// v1.0.3
}
