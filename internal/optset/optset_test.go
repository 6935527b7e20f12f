package optset_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ocisource/ocisource/internal/optset"
)

var errOpt = errors.New("invalid option")

func TestClaim(t *testing.T) {
	var s optset.Set
	if err := s.Claim(errOpt, "trusted root", "WithTrustedRootFile"); err != nil {
		t.Fatal(err)
	}
	err := s.Claim(errOpt, "trusted root", "WithTrustedRootFile")
	if !errors.Is(err, errOpt) || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("same option twice: %v", err)
	}
	err = s.Claim(errOpt, "trusted root", "WithPublicGoodTUF")
	if !errors.Is(err, errOpt) || !strings.Contains(err.Error(), "conflicts with WithTrustedRootFile") {
		t.Errorf("two options for one setting: %v", err)
	}
	if err := s.Claim(errOpt, "name", "WithName"); err != nil || s["name"] != "WithName" {
		t.Errorf("another setting: %v, %v", err, s)
	}
}
