//go:build unix

package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/mosaic-cdp/mosaic"
)

var _ mosaic.ProcessorLocker = (*DB)(nil)

// LockProcessor implements mosaic.ProcessorLocker with an exclusive flock(2) on
// processor.lock in the data directory. The kernel releases it when the process exits, so a
// crashed holder never leaves a stale lease; a second Open of the same directory in this
// process opens the file again and is refused like another process would be.
func (db *DB) LockProcessor(ctx context.Context) (func() error, error) {
	f, err := os.OpenFile(filepath.Join(db.Dir, "processor.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Processor lease unavailable.", Err: err}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, mosaic.Errorf(mosaic.ECONFLICT, "Another process (mosaic serve or mosaic import) is processing the store in %s.", db.Dir)
		}
		return nil, &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Processor lease unavailable.", Err: fmt.Errorf("flock: %w", err)}
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid()) // for people wondering who holds it
	var once sync.Once
	var relErr error
	return func() error {
		once.Do(func() {
			relErr = errors.Join(syscall.Flock(int(f.Fd()), syscall.LOCK_UN), f.Close())
		})
		return relErr
	}, nil
}
