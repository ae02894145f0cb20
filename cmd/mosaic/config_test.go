package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/identity"
)

// TestConfigRulesReplaceTheDefaults: a rules list is taken as written. A rule without paths is
// an error, not a rule that reads the default rule's field at its position.
func TestConfigRulesReplaceTheDefaults(t *testing.T) {
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "mosaic.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := LoadFileConfig(write("identity:\n  rules:\n    - {type: customer_number, priority: 1, limit: 1, paths: [traits.customer_number]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Identity.Rules) != 1 || cfg.Identity.Rules[0].Normalize != nil || len(cfg.Identity.Rules[0].Paths) != 1 {
		t.Fatalf("rules = %+v, want the one rule as written", cfg.Identity.Rules)
	}
	for body, want := range map[string]string{
		"identity:\n  rules:\n    - {type: user_id, paths: [userId]}\n    - {type: foo}\n": "needs at least one path",
		"identity:\n  rules: []\n": "the list is empty",
	} {
		if _, err := LoadFileConfig(write(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", body, err, want)
		}
	}
	cfg, err = LoadFileConfig(write("identity:\n  default_region: DK\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Identity.Rules) != len(identity.DefaultConfig().Rules) {
		t.Errorf("without a rules list: %d rules, want the defaults", len(cfg.Identity.Rules))
	}
}
