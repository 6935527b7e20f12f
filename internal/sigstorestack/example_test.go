package sigstorestack_test

import (
	"fmt"

	"github.com/ocisource/ocisource/internal/sigstorestack"
)

// The identity Fulcio certifies for a workflow token, and the repository its
// extensions name: what a verifier pins.
func ExampleWorkflow_WorkflowURI() {
	w := sigstorestack.Workflow{Repository: "org/app", WorkflowPath: ".github/workflows/release.yml", Ref: "refs/heads/main"}
	fmt.Println(w.WorkflowURI())
	fmt.Println(w.RepositoryURI())
	// Output:
	// https://github.com/org/app/.github/workflows/release.yml@refs/heads/main
	// https://github.com/org/app
}
