//go:build !race

package tarball_test

const raceEnabled = false
