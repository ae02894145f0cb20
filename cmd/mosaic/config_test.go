package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/traits"
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
	// A blocklist adds to the default one: test@test.com stays blocked.
	cfg, err = LoadFileConfig(write("identity:\n  blocklist: [orders@shop.example]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if bl := cfg.Identity.Blocklist; !slices.Contains(bl, "orders@shop.example") || !slices.Contains(bl, "test@test.com") {
		t.Errorf("blocklist = %v, want the defaults and the file's", bl)
	}
}

// TestConfigErrorsNameLineAndField: every mistake in the file is reported with the line it is
// on and the setting's path.
func TestConfigErrorsNameLineAndField(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"identity:\n  default_region: DK\n  rules:\n    - {type: user_id, priority: 1, limit: 1, paths: [userId]}\n    - type: Customer-No\n      paths: [traits.customer_number]\n",
			`:5: identity.rules[1].type: Identifier type "Customer-No" must be lower_snake_case.`},
		{"identity:\n  rules:\n    - {type: user_id, priority: 1, limit: 1, paths: [userId]}\n    - {type: email, priority: high, paths: [traits.email]}\n",
			":4: identity.rules[1].priority: a string is not a valid value here (want a whole number)"},
		{"identity:\n  default_region: DK\ntraits:\n  default: latest\n  rulez: {plan: earliest}\n",
			":5: traits.rulez: unknown setting"},
		{"traits:\n  default: latest\n  rules:\n    plan: earliest\n    tier: best\n",
			`:5: traits.rules.tier: Unknown survivorship rule "best".`},
		{"traits:\n  rules:\n    plan: earliest\n    tier: [max]\n",
			":4: traits.rules.tier: an array is not a valid value here (want a string)"},
		{"traits:\n  source_priority: [crm, web, crm]\n  rules: {tier: source_priority}\n",
			`:2: traits.source_priority[2]: Source "crm" is listed twice.`},
		{"identity:\n  default_region: XX\n", ":2: identity.default_region: default_region"},
		// A trait name with dots is one key (trial 12: the error named the line of rules:).
		{"traits:\n  rules:\n    address.city: latest\n", ":3: traits.rules.address.city: Rules apply to top-level traits"},
		{"identity:\n  rules: []\n", ":2: identity.rules: the list is empty"},
		{"matching:\n  review_threshold: 0.4\n  auto_threshold: 1.5\n", ":3: matching.auto_threshold: A match probability is above 0 and at most 1, not 1.5."},
		{"matching:\n  auto_threshold: 0.6\n  review_threshold: 0.8\n", ":3: matching.review_threshold: review_threshold (0.8) must not be above auto_threshold (0.6)"},
		{"matching:\n  review_threshold: -1\n", ":2: matching.review_threshold: A match probability is above 0"},
		{"identity:\n  rules:\n  - type: user_id\n   paths: [userId]\n", ":1: did not find expected key (not valid YAML or JSON: the mistake is on this line or in the block it starts)"},
		{"identity:\n\tdefault_region: DK\n", ":2: found character that cannot start any token"},
	} {
		p := filepath.Join(t.TempDir(), "mosaic.yaml")
		if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFileConfig(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n err = %v\nwant %q", tc.body, err, tc.want)
		}
	}
}

// TestChangedTraitRules: what the start-up warning names when survivorship rules changed. A
// trait without its own rule follows the default, so naming the default's rule changes nothing.
func TestChangedTraitRules(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, cur traits.Config
		want     string
	}{
		{"same", traits.Config{Rules: map[string]traits.Rule{"plan": traits.Earliest}}, traits.Config{Rules: map[string]traits.Rule{"plan": traits.Earliest}}, ""},
		{"one rule", traits.Config{}, traits.Config{Rules: map[string]traits.Rule{"plan": traits.Earliest, "city": traits.Latest}}, "plan"},
		{"rule removed", traits.Config{Rules: map[string]traits.Rule{"tags": traits.Union}}, traits.Config{}, "tags"},
		{"default", traits.Config{Rules: map[string]traits.Rule{"plan": traits.Latest}}, traits.Config{Default: traits.Earliest, Rules: map[string]traits.Rule{"plan": traits.Latest}}, "the default rule"},
		{"default named", traits.Config{}, traits.Config{Default: traits.Latest}, ""},
		{"source order", traits.Config{SourcePriority: []mosaic.SourceID{"a", "b"}}, traits.Config{SourcePriority: []mosaic.SourceID{"b", "a"}}, "the source_priority order"},
	} {
		if got := strings.Join(changedTraitRules(tc.old, tc.cur), ","); got != tc.want {
			t.Errorf("%s: changed %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestDescribeShowsReadableIdentifiersFirst: a dry run names a merge by its user ids,
// customer numbers and emails before anonymous ids (trial 12).
func TestDescribeShowsReadableIdentifiersFirst(t *testing.T) {
	cfg := identity.DefaultConfig()
	cfg.Rules = append(cfg.Rules, identity.Rule{Type: "customer_number", Priority: 3, Limit: 1, Paths: []string{"traits.customer_number"}})
	norm, err := identity.NewNormalizer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := []mosaic.Identifier{{Type: "anonymous_id", Value: "imp-1"}, {Type: "anonymous_id", Value: "imp-2"}, {Type: "customer_number", Value: "1001"}, {Type: "email", Value: "a@b.io"}}
	if got := describe(norm, g); got != "{customer_number:1001, email:a@b.io, anonymous_id:imp-1, +1 more}" {
		t.Fatalf("describe: %s", got)
	}
}
