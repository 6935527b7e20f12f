package ocisource

// LockEntries reports how many directories have an entry in f's lock map,
// so tests can check that it does not grow with every directory fetched.
func LockEntries(f *Fetcher) int { return f.locks.size() }
