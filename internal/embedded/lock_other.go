//go:build !unix

package embedded

// lockDataDir is a no-op where flock is unavailable; running two brokers on
// one DataDir there corrupts it.
func lockDataDir(string) (unlock func() error, err error) {
	return func() error { return nil }, nil
}
