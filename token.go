package mosaic

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is what a management API token may do.
type Role string

// The roles, from most to least powerful.
const (
	RoleOwner    Role = "owner"     // everything, including tokens
	RoleSteward  Role = "steward"   // governance: sources, plans, privacy requests
	RoleAnalyst  Role = "analyst"   // read everything
	RoleMarketer Role = "marketer"  // segments and destinations; read profiles
	RoleSupport  Role = "support"   // look up customers
	RoleReadOnly Role = "read-only" // read
)

// Roles lists every role.
var Roles = []Role{RoleOwner, RoleSteward, RoleAnalyst, RoleMarketer, RoleSupport, RoleReadOnly}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// CanManageTokens reports whether the role may list, create and revoke API tokens.
func (r Role) CanManageTokens() bool { return r == RoleOwner }

// CanManageSources reports whether the role may create and change sources.
func (r Role) CanManageSources() bool { return r == RoleOwner || r == RoleSteward }

// Token is a management API token. Only a SHA-256 digest of its secret is stored.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the role and the name (at most 100 characters, no control characters).
func (t *Token) Validate() error {
	if !t.Role.Valid() {
		return FieldErrorf(EINVALID, "role", "Unknown role %q: use one of owner, steward, analyst, marketer, support, read-only.", t.Role)
	}
	if utf8.RuneCountInString(t.Name) > 100 || strings.ContainsFunc(t.Name, unicode.IsControl) {
		return FieldErrorf(EINVALID, "name", "Token name must be at most 100 characters without control characters.")
	}
	return nil
}

// TokenDigest is the stored form of a token secret.
func TokenDigest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewTokenSecret returns a new random token secret (256 bits).
func NewTokenSecret() string { return "mt_" + RandomString(32) }

// TokenService stores management API tokens.
type TokenService interface {
	// CreateToken stores t (setting ID and CreatedAt) and returns its secret, shown once.
	// Returns invalid for an unknown role.
	CreateToken(ctx context.Context, t *Token) (secret string, err error)
	// FindTokenBySecret returns unauthorized when no token has this secret.
	FindTokenBySecret(ctx context.Context, secret string) (*Token, error)
	// CountTokens returns how many tokens exist.
	CountTokens(ctx context.Context) (int, error)
	// FindTokens returns every token, oldest first (never their secrets).
	FindTokens(ctx context.Context) ([]*Token, error)
	// RevokeToken deletes a token: its secret stops working at once. Returns not found for
	// an unknown id and conflict for the last owner token (nobody could manage tokens).
	RevokeToken(ctx context.Context, id string) error
}
