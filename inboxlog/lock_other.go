//go:build !unix

package inboxlog

import "os"

// Without flock(2) only one process may use a log at a time; within the process, Log's own
// mutexes order appends and reads.
func flock(*os.File, bool) error { return nil }

func funlock(*os.File) error { return nil }
