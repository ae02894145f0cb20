package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mosaic-cdp/mosaic"
)

var _ mosaic.ProcessorLocker = (*DB)(nil)

// processorLockKey is the first half of the processor lease's advisory lock key; the second
// is a hash of the schema, so stores in different schemas have their own lease.
const processorLockKey = 0x70726f63 // "proc"

// leaseCheck is how often a held lease checks that its connection is alive.
const leaseCheck = 15 * time.Second

// LockProcessor implements mosaic.ProcessorLocker with a session advisory lock
// (pg_try_advisory_lock) held on a connection of its own for as long as the lease lasts: the
// server releases it when that connection ends, so a crashed holder leaves no stale lease.
// If the connection is lost while held, the loss is logged as an error: another process may
// then take the lease.
func (db *DB) LockProcessor(ctx context.Context) (func() error, error) {
	cfg := db.pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, storeErr(err)
	}
	lockName := db.Schema
	if lockName == "" {
		if err := conn.QueryRow(ctx, `SELECT COALESCE(current_schema(), '')`).Scan(&lockName); err != nil {
			conn.Close(context.Background())
			return nil, storeErr(err)
		}
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, processorLockKey, lockName).Scan(&ok); err != nil {
		conn.Close(context.Background())
		return nil, storeErr(err)
	}
	if !ok {
		conn.Close(context.Background())
		return nil, mosaic.Errorf(mosaic.ECONFLICT, "Another process (mosaic serve or mosaic import) is processing this PostgreSQL store.")
	}
	var (
		mu   sync.Mutex // serialises the connection between the checker and release
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		t := time.NewTicker(leaseCheck)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			mu.Lock()
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := conn.Ping(cctx)
			cancel()
			mu.Unlock()
			if err != nil {
				db.Logger.Error("processor lease lost: its PostgreSQL connection failed", "err", err)
				return
			}
		}
	}()
	var once sync.Once
	var relErr error
	return func() error {
		once.Do(func() {
			close(stop)
			<-done
			mu.Lock()
			defer mu.Unlock()
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := conn.Exec(cctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, processorLockKey, lockName); err != nil {
				relErr = storeErr(err)
			}
			conn.Close(cctx)
		})
		return relErr
	}, nil
}
