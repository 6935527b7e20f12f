//go:build !unix

package ocisource

import (
	"context"
	"os"
)

// openNoFollow opens path; outside Unix, links are not checked.
func openNoFollow(path string, flag int) (*os.File, error) {
	return os.OpenFile(path, flag, 0o644)
}

// lockFile is a no-op outside Unix: fetches into one directory are
// serialised within the process only.
func lockFile(ctx context.Context, path string) (func(), error) { return func() {}, nil }

// treeID is unknown outside Unix: records are trusted without it.
func treeID(path string) (string, error) { return "", nil }
