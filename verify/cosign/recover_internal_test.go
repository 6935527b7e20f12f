package cosign

import (
	"errors"
	"strings"
	"testing"
)

// The fuzz targets call the verifiers without recoverInto (export_test.go);
// this keeps the recovery that shields callers under test.
func TestRecoverIntoRejectsAPanic(t *testing.T) {
	err := func() (err error) {
		defer recoverInto(&err)
		panic("index out of range in a parser")
	}()
	if !errors.Is(err, ErrInvalidSignature) || !strings.Contains(err.Error(), "index out of range in a parser") {
		t.Fatalf("err = %v, want ErrInvalidSignature naming the panic", err)
	}
	if err := func() (err error) {
		defer recoverInto(&err)
		return nil
	}(); err != nil {
		t.Fatalf("no panic: err = %v, want nil", err)
	}
}
