package importer

import (
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/bulk"
	"github.com/mosaic-cdp/mosaic/identity"
)

// TestPhoneErrorSaysWhichRegion: a row's phone number without a country code that does not
// read as a number of the default region gets the advice lookup gives (which region, and how
// to change it), not only "not a valid phone number".
func TestPhoneErrorSaysWhichRegion(t *testing.T) {
	cfg := identity.DefaultConfig()
	n, err := identity.NewNormalizer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{Config: cfg, Normalizer: n}
	check, err := id.Check(&bulk.Mapping{Identifiers: []bulk.Field{{Path: "traits.phone", Setting: "traits.phone", Line: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	err = check("traits.phone", "50 60 70 80")
	if err == nil || !strings.Contains(err.Error(), "read as a US number") || !strings.Contains(err.Error(), "identity.default_region") {
		t.Errorf("a Danish number under the default region: %v", err)
	}
	if err := check("traits.phone", "+45 50 60 70 80"); err != nil {
		t.Errorf("a number with its country code: %v", err)
	}
}
