package mosaic

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"
	"unicode/utf8"
)

// SourceID identifies a source: one system that sends data (a website, an app, a CRM export).
type SourceID string

// WriteKey is the credential a tracking library sends with every call; it names its source.
// Write keys are not secrets in the strong sense (browsers ship them), but they are unguessable.
type WriteKey string

// DefaultSourceName is the name of the source created on first start with an empty store.
const DefaultSourceName = "default"

// Source is a system that sends data to Mosaic.
type Source struct {
	ID       SourceID `json:"id"`
	Name     string   `json:"name"`
	WriteKey WriteKey `json:"write_key"`
	Disabled bool     `json:"disabled"`
	// AllowedOrigins lists the browser origins allowed to send (CORS); empty means any.
	AllowedOrigins []string  `json:"allowed_origins"`
	Events         int64     `json:"events"`     // events stored, counted by the processor
	Duplicates     int64     `json:"duplicates"` // events dropped as duplicate messageIds
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Validate checks the fields a caller may set.
func (s *Source) Validate() error {
	if err := ValidateSourceName(s.Name); err != nil {
		return err
	}
	for _, o := range s.AllowedOrigins {
		if err := validateOrigin(o); err != nil {
			return err
		}
	}
	return nil
}

// ValidateSourceName checks a source name: 1–100 characters, no control characters.
func ValidateSourceName(name string) error {
	if strings.TrimSpace(name) == "" {
		return FieldErrorf(EINVALID, "name", "Source name required.")
	}
	if utf8.RuneCountInString(name) > 100 {
		return FieldErrorf(EINVALID, "name", "Source name must be at most 100 characters.")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return FieldErrorf(EINVALID, "name", "Source name must not contain control characters.")
		}
	}
	return nil
}

func validateOrigin(o string) error {
	if o == "*" {
		return nil
	}
	if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") || strings.Count(o, "/") != 2 {
		return FieldErrorf(EINVALID, "allowed_origins", "Origin %q must look like https://shop.example.com (scheme and host, no path).", o)
	}
	return nil
}

// AllowsOrigin reports whether a browser page at origin may send to this source.
func (s *Source) AllowsOrigin(origin string) bool {
	if len(s.AllowedOrigins) == 0 {
		return true
	}
	for _, o := range s.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// SourceFilter selects sources; nil fields do not filter.
type SourceFilter struct {
	ID       *SourceID
	Name     *string
	WriteKey *WriteKey
}

// SourceUpdate changes a source; nil fields are left as they are.
type SourceUpdate struct {
	Name           *string   `json:"name"`
	Disabled       *bool     `json:"disabled"`
	AllowedOrigins *[]string `json:"allowed_origins"`
}

// SourceService manages sources.
type SourceService interface {
	// CreateSource stores a new source, setting its ID, WriteKey and times.
	// Returns invalid for a bad name and conflict if the name is taken.
	CreateSource(ctx context.Context, s *Source) error
	// FindSourceByID returns not_found if there is no such source.
	FindSourceByID(ctx context.Context, id SourceID) (*Source, error)
	// FindSourceByWriteKey returns not_found for an unknown key (disabled sources are returned).
	FindSourceByWriteKey(ctx context.Context, key WriteKey) (*Source, error)
	// FindSources returns the matching sources ordered by name.
	FindSources(ctx context.Context, filter SourceFilter) ([]*Source, error)
	// UpdateSource applies upd and returns the new state: not_found, invalid, conflict.
	UpdateSource(ctx context.Context, id SourceID, upd SourceUpdate) (*Source, error)
	// RotateWriteKey gives the source a new write key; the old one stops working at once.
	RotateWriteKey(ctx context.Context, id SourceID) (*Source, error)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// RandomString returns n random bytes as lower-case base32 (crypto/rand).
func RandomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (Go 1.24+)
	return strings.ToLower(b32.EncodeToString(b))
}

// NewSourceID returns a new random source id ("src_…").
func NewSourceID() SourceID { return SourceID("src_" + RandomString(10)) }

// NewWriteKey returns a new random write key (160 bits).
func NewWriteKey() WriteKey { return WriteKey("wk_" + RandomString(20)) }
