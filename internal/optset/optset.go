// Package optset keeps the rule the verifiers' functional options share:
// a single-valued setting is set by one option at most, so options never
// silently override each other.
package optset

import "fmt"

// Set records which option set each single-valued setting.
type Set map[string]string

// Claim records that opt sets setting, and refuses (with an error wrapping
// sentinel) an option that sets a setting another one, or an earlier call
// of the same, already set.
func (s *Set) Claim(sentinel error, setting, opt string) error {
	if prev, ok := (*s)[setting]; ok {
		if prev == opt {
			return fmt.Errorf("%w: %s given twice: the %s can be set once", sentinel, opt, setting)
		}
		return fmt.Errorf("%w: %s conflicts with %s: both set the %s; give one", sentinel, opt, prev, setting)
	}
	if *s == nil {
		*s = Set{}
	}
	(*s)[setting] = opt
	return nil
}
