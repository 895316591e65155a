//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the file in DataDir that StartBroker holds an exclusive
// flock on while the broker runs. kfake ignores unknown top-level files.
const lockFileName = ".syncline-broker.lock"

// lockDataDir takes an exclusive, non-blocking lock on dir so that two
// brokers never write the same data directory. The OS releases the lock if
// the process dies.
func lockDataDir(dir string) (unlock func() error, err error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("embedded broker: data dir %s is in use by another broker", dir)
		}
		return nil, fmt.Errorf("embedded broker: locking data dir %s: %w", dir, err)
	}
	return func() error {
		// Closing the descriptor releases the flock.
		return f.Close()
	}, nil
}
