//go:build !unix

package tarball_test

import "time"

// processCPU is not measured here; the cpu-ratio metric reads NaN.
func processCPU() time.Duration { return 0 }
