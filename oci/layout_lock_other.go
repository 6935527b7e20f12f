//go:build !unix

package oci

import (
	"context"
	"sync"
)

var layoutLocks sync.Map // dir -> *sync.Mutex

// lockDir serialises writers of one layout within the process only:
// outside Unix there is no directory lock.
func lockDir(ctx context.Context, dir string) (func(), error) {
	mu, _ := layoutLocks.LoadOrStore(dir, &sync.Mutex{})
	m := mu.(*sync.Mutex)
	m.Lock()
	return m.Unlock, nil
}
