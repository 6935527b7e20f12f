//go:build !unix

package oci

import (
	"context"
	"os"
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

// lockTemp does nothing outside Unix: sweeps rely on the file's age.
func lockTemp(*os.File) {}

// tryLockTemp reports true outside Unix: the file's age decides.
func tryLockTemp(*os.File) bool { return true }
