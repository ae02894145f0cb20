//go:build !unix

package sqlite

import (
	"context"
	"sync"

	"github.com/mosaic-cdp/mosaic"
)

// leases stands in for flock(2) where it does not exist: it keeps two processors apart
// within one process only.
var leases sync.Map // data directory → struct{}

// LockProcessor implements mosaic.ProcessorLocker; on this platform the lease covers this
// process only.
func (db *DB) LockProcessor(ctx context.Context) (func() error, error) {
	if _, held := leases.LoadOrStore(db.Dir, struct{}{}); held {
		return nil, mosaic.Errorf(mosaic.ECONFLICT, "Another processor is running on the store in %s.", db.Dir)
	}
	var once sync.Once
	return func() error { once.Do(func() { leases.Delete(db.Dir) }); return nil }, nil
}
