// Package inboxlog is the embedded store's inbox: the durable, append-only log between the
// gateway and the processor, kept as segment files rather than as rows of a database.
//
// # Why a log file
//
// Every acknowledged event is written to the inbox once and read back once, in order. In a
// SQLite table each append also paid for a B-tree, a WAL frame per page and a checkpoint that
// copied every page a second time: measured under segload, the inbox's appends were 29 % of
// the server's CPU while the gateway took 60k events/s. Here an append is one write and one
// fsync of the records as they are, and a read is one sequential read.
//
// # Format
//
// DIR holds segment files named by the sequence number of their first record
// (00000000000000000001.log) and a lock file. A segment is a run of records, each
//
//	u32 body length | u32 CRC-32C of the body | body
//	body: u64 seq | i64 received (µs) | u8 flags | i64 sent (µs) | uvarint len, source id |
//	      uvarint len, message id | payload (the rest)
//
// little-endian. Sequence numbers increase by one from record to record and across segments.
// An append writes all of its records with one write, syncs the file, and only then makes
// them visible; a new segment is started (and the directory synced) once the last one has
// passed Log.SegmentBytes.
//
// # Crashes and other processes
//
// A crash during an append can leave a torn record at the end of the last segment: reading
// stops at the first record whose length, checksum or sequence number is wrong, and the next
// append cuts it off before writing. Nothing acknowledged is torn, since an append returns
// only after its sync.
//
// Several processes may open the same directory (mosaic serve, and mosaic import appending
// beside it). An append holds an exclusive flock(2) on the lock file from reading the tail to
// the end of its sync; a reader that finds the last segment grown takes a shared lock to read
// the new records, so it never sees records that are not yet synced.
package inboxlog

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

// DefaultSegmentBytes is the size past which the next append starts a new segment.
const DefaultSegmentBytes = 64 << 20

const (
	headerLen  = 8                  // body length + CRC
	fixedLen   = 8 + 8 + 1 + 8      // seq, received, flags, sent
	maxBody    = 64 << 20           // a longer length is corruption, not a record
	markEvery  = 128                // records between two entries of a segment's index
	flagSent   = 1                  // the record has a sent time
	suffix     = ".log"             // segment file name suffix
	nameDigits = 20                 // segment names: the first seq, zero-padded
	lockName   = "lock"             // the lock file's name in DIR
	dirPerm    = os.FileMode(0o700) // DIR's permissions
	filePerm   = os.FileMode(0o600) // segment and lock files' permissions
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Log is an inbox in a directory. Set the fields, then call Open.
type Log struct {
	Dir string // created if missing
	// SegmentBytes is the size past which the next append starts a new segment; 0 means
	// DefaultSegmentBytes.
	SegmentBytes int64

	appendMu sync.Mutex // one append (or tail refresh under the file lock) at a time, taken before mu
	lock     *os.File   // DIR/lock, for flock(2)

	mu     sync.Mutex // guards the fields below
	segs   []*segment // in order of first seq
	head   int64      // seq of the last visible record, 0 when empty
	cursor cursor     // where the previous read ended
	closed bool
	broken error // an append failed and could not be taken back: no more appends
}

// segment is one file of the log.
type segment struct {
	first int64    // seq of its first record
	path  string   // file path
	f     *os.File // open for the last segment only, for appends; reads open their own
	size  int64    // bytes of complete, visible records
	// seen is the file's size and modification time when it was last read to its end: past
	// size lies a torn record (cut off by the next append), not worth reading again until the
	// file changes.
	seenSize int64
	seenMod  time.Time
	last     int64  // seq of its last visible record (first-1 while empty)
	marks    []mark // every markEvery-th record's offset; complete once indexed is set
	// indexed is set once marks covers the segment up to size (always for segments this
	// process opened as last or appended to; sealed ones are read through when first needed).
	indexed bool
}

type mark struct{ seq, off int64 }

// cursor remembers where a read ended, so the next read, which usually starts there, needs
// no index lookup.
type cursor struct {
	seg *segment
	seq int64 // the last seq read
	off int64 // offset of the record after it
}

// Open creates the directory if needed and finds the log's end.
func (l *Log) Open() error {
	if l.Dir == "" {
		return errors.New("inboxlog: directory required")
	}
	if l.SegmentBytes <= 0 {
		l.SegmentBytes = DefaultSegmentBytes
	}
	if err := os.MkdirAll(l.Dir, dirPerm); err != nil {
		return fmt.Errorf("create inbox directory: %w", err)
	}
	// The directory's own entry must outlive a crash too (it may have just been created).
	if err := syncDir(filepath.Dir(l.Dir)); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(l.Dir, lockName), os.O_CREATE|os.O_RDWR, filePerm)
	if err != nil {
		return fmt.Errorf("open inbox lock: %w", err)
	}
	l.lock = lock
	if err := flock(l.lock, false); err != nil {
		l.lock.Close()
		return fmt.Errorf("lock inbox: %w", err)
	}
	defer funlock(l.lock)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.loadLocked(); err != nil {
		l.closeFilesLocked()
		l.lock.Close()
		return err
	}
	return nil
}

// loadLocked lists the segments and reads the last one through.
func (l *Log) loadLocked() error {
	entries, err := os.ReadDir(l.Dir)
	if err != nil {
		return fmt.Errorf("list inbox: %w", err)
	}
	var firsts []int64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, suffix) || len(name) != nameDigits+len(suffix) {
			continue
		}
		first, err := strconv.ParseInt(strings.TrimSuffix(name, suffix), 10, 64)
		if err != nil || first < 1 {
			continue
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	for i, first := range firsts {
		s := &segment{first: first, path: l.segPath(first), last: first - 1}
		if i+1 < len(firsts) {
			// Sealed: its records end where the next segment's begin.
			fi, err := os.Stat(s.path)
			if err != nil {
				return fmt.Errorf("inbox segment: %w", err)
			}
			s.size, s.last = fi.Size(), firsts[i+1]-1
		}
		l.segs = append(l.segs, s)
	}
	if len(l.segs) == 0 {
		return nil
	}
	last := l.segs[len(l.segs)-1]
	if last.f, err = os.OpenFile(last.path, os.O_RDWR, filePerm); err != nil {
		return fmt.Errorf("open inbox segment: %w", err)
	}
	last.indexed = true
	if err := l.extendLocked(last); err != nil {
		return err
	}
	l.head = last.last
	return nil
}

func (l *Log) segPath(first int64) string {
	return filepath.Join(l.Dir, fmt.Sprintf("%0*d%s", nameDigits, first, suffix))
}

// Close closes the files. The log must not be used afterwards.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := l.closeFilesLocked()
	if l.lock != nil {
		err = errors.Join(err, l.lock.Close())
	}
	return err
}

func (l *Log) closeFilesLocked() error {
	var errs []error
	for _, s := range l.segs {
		if s.f != nil {
			errs = append(errs, s.f.Close())
			s.f = nil
		}
	}
	return errors.Join(errs...)
}

// Head returns the seq of the last record (0 when the log is empty), including records other
// processes have appended.
func (l *Log) Head() (int64, error) {
	if err := l.refresh(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head, nil
}

// Append writes recs after the last record, syncs them and sets their Seq. The records are
// durable when it returns nil; on an error none of them is visible.
func (l *Log) Append(recs []*mosaic.InboxRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return l.Import(func(_ int64, add func([]*mosaic.InboxRecord) error) error { return add(recs) })
}

// Import runs fn holding the log's write lock, so that no other append of this or another
// process comes between fn's reading of the head and its appends: fn gets the seq of the last
// record and appends through add, which works like Append.
func (l *Log) Import(fn func(head int64, add func([]*mosaic.InboxRecord) error) error) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := flock(l.lock, true); err != nil {
		return unavailable(fmt.Errorf("lock inbox: %w", err))
	}
	defer funlock(l.lock)
	// Under the exclusive lock nobody else writes: take in what other processes appended and
	// cut off a torn tail.
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return unavailable(errors.New("inbox closed"))
	}
	if l.broken != nil {
		l.mu.Unlock()
		return unavailable(fmt.Errorf("an earlier append could not be taken back; restart to reopen the inbox: %w", l.broken))
	}
	if _, err := l.tailLocked(true); err != nil {
		l.mu.Unlock()
		return err
	}
	head := l.head
	l.mu.Unlock()
	return fn(head, l.appendLocked)
}

// appendLocked appends recs; the caller holds appendMu and the exclusive file lock.
func (l *Log) appendLocked(recs []*mosaic.InboxRecord) error {
	if len(recs) == 0 {
		return nil
	}
	l.mu.Lock()
	var seg *segment
	if n := len(l.segs); n > 0 {
		seg = l.segs[n-1]
	}
	if seg == nil || seg.size >= l.SegmentBytes {
		var err error
		if seg, err = l.startSegmentLocked(l.head + 1); err != nil {
			l.mu.Unlock()
			return err
		}
	}
	off, seq := seg.size, l.head
	l.mu.Unlock()

	buf := make([]byte, 0, encodedSize(recs))
	var marks []mark
	for _, r := range recs {
		seq++
		if (seq-seg.first)%markEvery == 0 {
			marks = append(marks, mark{seq, off + int64(len(buf))})
		}
		buf = appendRecord(buf, seq, r)
	}
	if _, err := seg.f.WriteAt(buf, off); err != nil {
		return l.takeBack(seg, off, fmt.Errorf("write inbox: %w", err))
	}
	if err := seg.f.Sync(); err != nil {
		return l.takeBack(seg, off, fmt.Errorf("sync inbox: %w", err))
	}

	fi, statErr := seg.f.Stat()
	l.mu.Lock()
	seg.size = off + int64(len(buf))
	if statErr == nil {
		seg.seenSize, seg.seenMod = fi.Size(), fi.ModTime()
	}
	seg.last = seq
	seg.marks = append(seg.marks, marks...)
	l.head = seq
	l.mu.Unlock()
	first := seq - int64(len(recs)) + 1
	for i, r := range recs {
		r.Seq = first + int64(i)
	}
	return nil
}

// takeBack cuts a failed append off the segment (what reached the disk is unknown), so that
// none of its records is read; if that fails too, the log takes no more appends.
func (l *Log) takeBack(seg *segment, off int64, cause error) error {
	if err := seg.f.Truncate(off); err != nil {
		l.mu.Lock()
		l.broken = errors.Join(cause, err)
		l.mu.Unlock()
		return unavailable(l.broken)
	}
	return unavailable(cause)
}

// startSegmentLocked creates the segment whose first record will be first, and syncs the
// directory so that the file outlives a crash.
func (l *Log) startSegmentLocked(first int64) (*segment, error) {
	s := &segment{first: first, path: l.segPath(first), last: first - 1, indexed: true}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_RDWR, filePerm)
	if err != nil {
		return nil, unavailable(fmt.Errorf("create inbox segment: %w", err))
	}
	if err := f.Truncate(0); err != nil { // a leftover of a crash before its first sync
		f.Close()
		return nil, unavailable(fmt.Errorf("create inbox segment: %w", err))
	}
	if err := syncDir(l.Dir); err != nil {
		f.Close()
		return nil, unavailable(err)
	}
	if n := len(l.segs); n > 0 && l.segs[n-1].f != nil {
		l.segs[n-1].f.Close()
		l.segs[n-1].f = nil
	}
	s.f = f
	l.segs = append(l.segs, s)
	return s, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync inbox directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync inbox directory: %w", err)
	}
	return nil
}

// refresh takes in records other processes appended. Records of an append of this process
// that is still running are not looked for: that append takes them in itself.
func (l *Log) refresh() error {
	l.mu.Lock()
	changed, err := l.changedLocked()
	if l.broken != nil {
		changed = false // the file holds records of the failed append: read no further
	}
	l.mu.Unlock()
	if err != nil || !changed || !l.appendMu.TryLock() {
		return err
	}
	defer l.appendMu.Unlock()
	if err := flock(l.lock, false); err != nil {
		return unavailable(fmt.Errorf("lock inbox: %w", err))
	}
	defer funlock(l.lock)
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.tailLocked(false)
	return err
}

// changedLocked tells whether the last segment grew or a new one began since this process
// last looked.
func (l *Log) changedLocked() (bool, error) {
	if l.closed {
		return false, unavailable(errors.New("inbox closed"))
	}
	if n := len(l.segs); n > 0 {
		s := l.segs[n-1]
		fi, err := s.f.Stat()
		if err != nil {
			return false, unavailable(fmt.Errorf("inbox segment: %w", err))
		}
		if fi.Size() != s.seenSize || !fi.ModTime().Equal(s.seenMod) {
			return true, nil
		}
		if s.first == l.head+1 {
			return false, nil // empty: the next segment would be this one
		}
	}
	_, err := os.Stat(l.segPath(l.head + 1))
	return err == nil, nil
}

// tailLocked reads the last segment from its known end, and any segments begun after it, and
// returns the last segment (nil if there is none). With cut (the exclusive lock held) it cuts
// off a torn record at the end.
func (l *Log) tailLocked(cut bool) (*segment, error) {
	for {
		var s *segment
		if n := len(l.segs); n > 0 {
			s = l.segs[n-1]
			fi, err := s.f.Stat()
			if err != nil {
				return nil, unavailable(fmt.Errorf("inbox segment: %w", err))
			}
			if fi.Size() != s.seenSize || !fi.ModTime().Equal(s.seenMod) {
				if err := l.extendLocked(s); err != nil {
					return nil, err
				}
				s.seenSize, s.seenMod = fi.Size(), fi.ModTime()
			}
			if cut && s.size < fi.Size() {
				if err := s.f.Truncate(s.size); err != nil {
					return nil, unavailable(fmt.Errorf("cut torn inbox record: %w", err))
				}
				s.seenSize = -1 // look again: the cut changed the file
			}
			l.head = s.last
			if s.first == l.head+1 {
				return s, nil // empty: the next segment would be this one
			}
		}
		next := l.segPath(l.head + 1)
		if _, err := os.Stat(next); err != nil {
			return s, nil
		}
		f, err := os.OpenFile(next, os.O_RDWR, filePerm)
		if err != nil {
			return nil, unavailable(fmt.Errorf("open inbox segment: %w", err))
		}
		if s != nil {
			s.f.Close()
			s.f = nil
		}
		l.segs = append(l.segs, &segment{first: l.head + 1, path: next, last: l.head, f: f, indexed: true})
	}
}

// extendLocked reads the segment's records past its known size and extends its size, last
// seq and marks.
func (l *Log) extendLocked(s *segment) error {
	end, last, err := scan(s.f, s.size, s.last+1, marking(s.first, &s.marks))
	if err != nil {
		return unavailable(fmt.Errorf("read inbox segment %s: %w", filepath.Base(s.path), err))
	}
	s.size, s.last = end, last
	return nil
}

// marking returns a scan callback that adds every markEvery-th record of a segment
// beginning at first to marks.
func marking(first int64, marks *[]mark) func(seq, off int64) {
	return func(seq, off int64) {
		if (seq-first)%markEvery == 0 {
			*marks = append(*marks, mark{seq, off})
		}
	}
}

// scan reads records from offset off on, the first of which must have seq, calling fn with
// each one's seq and offset, until the records end: at the end of the file, or at a torn or
// damaged record, or one out of sequence. It returns the end of the last record read and
// its seq (seq-1 if none).
func scan(r io.ReaderAt, off, seq int64, fn func(seq, off int64)) (end, last int64, err error) {
	const chunk = 1 << 20
	var buf []byte
	last = seq - 1
	for {
		i := 0
		for {
			body, n, st := decodeFrame(buf[i:])
			if st == frameShort {
				break
			}
			if st == frameBad || recordSeq(body) != last+1 {
				return off, last, nil
			}
			fn(last+1, off)
			last++
			off += int64(n)
			i += n
		}
		// Keep the partial record at the front and read on.
		rest := len(buf) - i
		need := rest + chunk
		if rest >= headerLen {
			need = max(need, headerLen+int(binary.LittleEndian.Uint32(buf[i:])))
		}
		if cap(buf) < need {
			nbuf := make([]byte, rest, need)
			copy(nbuf, buf[i:])
			buf = nbuf
		} else {
			buf = buf[:copy(buf, buf[i:])]
		}
		n, err := r.ReadAt(buf[rest:cap(buf)], off+int64(rest))
		buf = buf[:rest+n]
		if err != nil && !errors.Is(err, io.EOF) {
			return off, last, err
		}
		if n == 0 {
			return off, last, nil
		}
	}
}

const (
	frameOK    = iota
	frameShort // b ends inside the record
	frameBad   // not a record: impossible length or wrong checksum
)

// decodeFrame returns the body of the record at the start of b and the record's length.
func decodeFrame(b []byte) (body []byte, n int, status int) {
	if len(b) < headerLen {
		return nil, 0, frameShort
	}
	size := int(binary.LittleEndian.Uint32(b))
	if size < fixedLen || size > maxBody {
		return nil, 0, frameBad
	}
	if len(b) < headerLen+size {
		return nil, 0, frameShort
	}
	body = b[headerLen : headerLen+size]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, frameBad
	}
	return body, headerLen + size, frameOK
}

func recordSeq(body []byte) int64 {
	if len(body) < 8 {
		return -1
	}
	return int64(binary.LittleEndian.Uint64(body))
}

func encodedSize(recs []*mosaic.InboxRecord) int {
	n := 0
	for _, r := range recs {
		n += headerLen + fixedLen + 2*binary.MaxVarintLen64 + len(r.SourceID) + len(r.MessageID) + len(r.Payload)
	}
	return n
}

// appendRecord appends the record with seq to b.
func appendRecord(b []byte, seq int64, r *mosaic.InboxRecord) []byte {
	start := len(b)
	b = append(b, make([]byte, headerLen)...)
	b = binary.LittleEndian.AppendUint64(b, uint64(seq))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.ReceivedAt.UnixMicro()))
	var flags byte
	var sent int64
	if r.SentAt != nil {
		flags, sent = flagSent, r.SentAt.UnixMicro()
	}
	b = append(b, flags)
	b = binary.LittleEndian.AppendUint64(b, uint64(sent))
	b = binary.AppendUvarint(b, uint64(len(r.SourceID)))
	b = append(b, r.SourceID...)
	b = binary.AppendUvarint(b, uint64(len(r.MessageID)))
	b = append(b, r.MessageID...)
	b = append(b, r.Payload...)
	body := b[start+headerLen:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, castagnoli))
	return b
}

// decodeRecord turns a body into a record; ids interns source ids. Its payload shares
// body's memory.
func decodeRecord(body []byte, ids map[string]mosaic.SourceID) (*mosaic.InboxRecord, error) {
	bad := errors.New("malformed inbox record")
	r := &mosaic.InboxRecord{Seq: recordSeq(body)}
	r.ReceivedAt = time.UnixMicro(int64(binary.LittleEndian.Uint64(body[8:]))).UTC()
	if body[16]&flagSent != 0 {
		t := time.UnixMicro(int64(binary.LittleEndian.Uint64(body[17:]))).UTC()
		r.SentAt = &t
	}
	rest := body[fixedLen:]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, false
		}
		v := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		return v, true
	}
	src, ok := field()
	if !ok {
		return nil, bad
	}
	mid, ok := field()
	if !ok {
		return nil, bad
	}
	id, ok := ids[string(src)]
	if !ok {
		id = mosaic.SourceID(src)
		ids[string(id)] = id
	}
	r.SourceID, r.MessageID = id, string(mid)
	r.Payload = rest[:len(rest):len(rest)]
	return r, nil
}

// Read returns up to limit records with Seq > after, in order.
func (l *Log) Read(after int64, limit int) ([]*mosaic.InboxRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	if err := l.refresh(); err != nil {
		return nil, err
	}
	var out []*mosaic.InboxRecord
	for len(out) < limit {
		from := after + 1
		if len(out) > 0 {
			from = out[len(out)-1].Seq + 1
		}
		recs, err := l.readSegment(from, limit-len(out))
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			break
		}
		out = append(out, recs...)
	}
	return out, nil
}

// readSegment reads up to limit records from seq from on, from the segment holding seq.
func (l *Log) readSegment(from int64, limit int) ([]*mosaic.InboxRecord, error) {
	l.mu.Lock()
	if from > l.head || from < 1 {
		l.mu.Unlock()
		return nil, nil
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > from }) - 1
	if i < 0 {
		l.mu.Unlock()
		return nil, fmt.Errorf("inbox record %d is missing: the first segment begins at %d", from, l.segs[0].first)
	}
	s := l.segs[i]
	if !s.indexed {
		// Sealed segments do not change: index it without holding up appends.
		l.mu.Unlock()
		marks, end, err := index(s)
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if !s.indexed {
			s.marks, s.size, s.indexed = marks, end, true
		}
	}
	// Start at the cursor when the read goes on from the previous one, else at the last
	// indexed record at or before from; end at the first indexed record past the ones wanted,
	// or at the segment's end: that span holds every record wanted.
	seq, off := s.markBefore(from)
	if c := l.cursor; c.seg == s && c.seq == from-1 {
		seq, off = from, c.off
	}
	want := min(int64(limit), s.last-from+1)
	end := s.endFor(from + want)
	path := s.path
	l.mu.Unlock()

	// A file of its own: an append may close the segment's (when it starts the next one).
	f, err := os.Open(path)
	if err != nil {
		return nil, unavailable(fmt.Errorf("open inbox segment: %w", err))
	}
	defer f.Close()
	buf := make([]byte, end-off)
	if n, err := f.ReadAt(buf, off); n < len(buf) {
		return nil, unavailable(fmt.Errorf("read inbox segment %s: %w", filepath.Base(path), cmp.Or(err, io.ErrUnexpectedEOF)))
	}
	out := make([]*mosaic.InboxRecord, 0, want)
	ids := map[string]mosaic.SourceID{}
	pos := 0
	for int64(len(out)) < want {
		body, n, st := decodeFrame(buf[pos:])
		if st != frameOK || recordSeq(body) != seq {
			return nil, fmt.Errorf("inbox segment %s: record %d is damaged or missing at offset %d", filepath.Base(path), seq, off+int64(pos))
		}
		if seq >= from {
			rec, err := decodeRecord(body, ids)
			if err != nil {
				return nil, fmt.Errorf("inbox segment %s: record %d: %w", filepath.Base(path), seq, err)
			}
			out = append(out, rec)
		}
		seq++
		pos += n
	}
	if len(out) > 0 {
		l.mu.Lock()
		l.cursor = cursor{seg: s, seq: seq - 1, off: off + int64(pos)}
		l.mu.Unlock()
	}
	return out, nil
}

// markBefore returns the seq and offset of the last indexed record at or before seq.
func (s *segment) markBefore(seq int64) (int64, int64) {
	i := sort.Search(len(s.marks), func(i int) bool { return s.marks[i].seq > seq }) - 1
	if i < 0 {
		return s.first, 0
	}
	return s.marks[i].seq, s.marks[i].off
}

// endFor returns an offset at or past the end of the record before seq, from the index:
// the first mark at or after seq, or the segment's size.
func (s *segment) endFor(seq int64) int64 {
	i := sort.Search(len(s.marks), func(i int) bool { return s.marks[i].seq >= seq })
	if i < len(s.marks) {
		return s.marks[i].off
	}
	return s.size
}

// index reads a sealed segment through and returns its marks and the end of its records.
func index(s *segment) ([]mark, int64, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, 0, unavailable(fmt.Errorf("open inbox segment: %w", err))
	}
	defer f.Close()
	var marks []mark
	end, last, err := scan(f, 0, s.first, marking(s.first, &marks))
	if err != nil {
		return nil, 0, unavailable(fmt.Errorf("read inbox segment %s: %w", filepath.Base(s.path), err))
	}
	if last != s.last {
		return nil, 0, fmt.Errorf("inbox segment %s holds records %d to %d, not to %d: it is damaged", filepath.Base(s.path), s.first, last, s.last)
	}
	return marks, end, nil
}

func unavailable(err error) error {
	return &mosaic.Error{Code: mosaic.EUNAVAILABLE, Message: "Inbox unavailable; retry.", Err: err}
}
