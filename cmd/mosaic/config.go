package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/linkage"
	"github.com/mosaic-cdp/mosaic/traits"
	"go.yaml.in/yaml/v3"
)

// FileConfig is the optional configuration file (YAML or JSON): identity rules and trait
// survivorship. Everything else is set by flags and MOSAIC_* variables.
//
//	identity:
//	  default_region: DK
//	  rules:
//	    - {type: user_id, priority: 1, limit: 1, paths: [userId], normalize: [trim]}
//	    - {type: customer_number, priority: 4, limit: 1, paths: [traits.customer_number], normalize: [trim, digits]}
//	traits:
//	  default: latest
//	  rules: {signup_source: earliest, lifetime_value: max, tags: union, tier: source_priority}
//	  source_priority: [crm, web] # source names or ids, highest first; see resolveTraits
//	matching:
//	  auto_threshold: 0.95
//	  review_threshold: 0.5
type FileConfig struct {
	Identity identity.Config `json:"identity"`
	Traits   traits.Config   `json:"traits"`
	Matching MatchingConfig  `json:"matching"`

	path string     // the file it was read from
	root *yaml.Node // the file parsed, to name the line of a setting
}

// DefaultFileConfig is what Mosaic uses without a file.
func DefaultFileConfig() *FileConfig {
	return &FileConfig{Identity: identity.DefaultConfig(), Traits: traits.Config{Default: traits.Latest}}
}

// LoadFileConfig reads a configuration file; "" gives the defaults. Sections or fields the
// file leaves out keep their defaults; an identity section with rules replaces the default
// rules as a whole.
func LoadFileConfig(path string) (*FileConfig, error) {
	cfg := DefaultFileConfig()
	if path == "" {
		return cfg, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// The file's rules replace the defaults: decoding into the default list would fill each
	// rule the file gives from the default rule at its position (a rule without paths
	// would read userId).
	defaults := cfg.Identity.Rules
	cfg.Identity.Rules = nil
	// The file's blocklist adds to the default one: a shop that blocks its own address must
	// not unblock "null" and test@test.com by doing so.
	defaultBlocklist := cfg.Identity.Blocklist
	cfg.Identity.Blocklist = nil
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("%s:%s: %s (not valid YAML or JSON: the mistake is on this line or in the block it starts)", path, m[1], m[2])
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// at names the place of a setting in the file: "FILE:LINE: field".
	at := func(field string) string {
		if line := lineOf(&root, field); line > 0 {
			return fmt.Sprintf("%s:%d: %s", path, line, field)
		}
		return path + ": " + field
	}
	if err := decodeYAML(raw, cfg); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return nil, fmt.Errorf("%s: %s is not a valid value here (want %s)", at(typeErrorField(&root, te)), withArticle(te.Value), mosaic.JSONKind(te.Type))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return nil, fmt.Errorf("%s: unknown setting (see the configuration section of the README)", at(findKey(&root, name, "")))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, v := range cfg.Identity.Blocklist {
		if !slices.Contains(defaultBlocklist, v) {
			defaultBlocklist = append(defaultBlocklist, v)
		}
	}
	cfg.Identity.Blocklist = defaultBlocklist
	switch {
	case cfg.Identity.Rules == nil:
		cfg.Identity.Rules = defaults
	case len(cfg.Identity.Rules) == 0:
		return nil, fmt.Errorf("%s: the list is empty; leave it out to keep the default rules", at("identity.rules"))
	}
	if _, err := identity.NewNormalizer(cfg.Identity); err != nil {
		return nil, fmt.Errorf("%s: %s", at("identity."+mosaic.ErrorField(err)), mosaic.ErrorMessage(err))
	}
	if err := cfg.Traits.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %s", at("traits."+mosaic.ErrorField(err)), mosaic.ErrorMessage(err))
	}
	if err := cfg.Matching.validate(); err != nil {
		return nil, fmt.Errorf("%s: %s", at("matching."+mosaic.ErrorField(err)), mosaic.ErrorMessage(err))
	}
	cfg.root = &root
	cfg.path = path
	return cfg, nil
}

// At returns "FILE:LINE: field" for a setting of the file cfg was loaded from (see lineOf).
func (cfg *FileConfig) At(field string) string {
	if cfg.root == nil {
		return cfg.path + ": " + field
	}
	if line := lineOf(cfg.root, field); line > 0 {
		return fmt.Sprintf("%s:%d: %s", cfg.path, line, field)
	}
	return cfg.path + ": " + field
}

// validate checks the thresholds as a match run would (0 < review <= auto <= 1, unset ones
// taking their defaults), so a mistake stops the start rather than every later run.
func (m MatchingConfig) validate() error {
	auto, review := cmp.Or(m.AutoThreshold, linkage.DefaultAutoThreshold), cmp.Or(m.ReviewThreshold, linkage.DefaultReviewThreshold)
	switch {
	case auto <= 0 || auto > 1:
		return mosaic.FieldErrorf(mosaic.EINVALID, "auto_threshold", "A match probability is above 0 and at most 1, not %g.", auto)
	case review <= 0 || review > 1:
		return mosaic.FieldErrorf(mosaic.EINVALID, "review_threshold", "A match probability is above 0 and at most 1, not %g.", review)
	case review > auto:
		return mosaic.FieldErrorf(mosaic.EINVALID, "review_threshold", "review_threshold (%g) must not be above auto_threshold (%g): pairs between them wait for review.", review, auto)
	case m.MaxClusterSize < 0:
		return mosaic.FieldErrorf(mosaic.EINVALID, "max_cluster_size", "max_cluster_size must be 0 (the default) or more.")
	}
	return nil
}

// yamlLineRE takes a YAML syntax error apart: "yaml: line 3: did not find expected key".
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// lineOf returns the line of the setting at field ("identity.rules[1].type") in a parsed
// file, or of the nearest enclosing one the file has; 0 if none.
func lineOf(root *yaml.Node, field string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	parts := strings.Split(field, ".")
	for i := 0; i < len(parts); i++ {
		part := parts[i]
		// A key with dots ("address.city" under traits.rules) is one setting: take the
		// longest run of parts that names one.
		for j := len(parts); j > i+1; j-- {
			if joined := strings.Join(parts[i:j], "."); mappingValue(n, joined) != nil {
				part, i = joined, j-1
				break
			}
		}
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			if k, err := strconv.Atoi(part[i+1 : len(part)-1]); err == nil {
				idx = k
			}
		}
		if name != "" {
			next := mappingValue(n, name)
			if next == nil {
				return line
			}
			line, n = next.key.Line, next.value
		}
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

type keyValue struct{ key, value *yaml.Node }

func mappingValue(n *yaml.Node, name string) *keyValue {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return &keyValue{n.Content[i], n.Content[i+1]}
		}
	}
	return nil
}

// findKey returns the path ("traits.rules") of the first key called name in the file, below
// prefix; name itself if there is none.
func findKey(n *yaml.Node, name, prefix string) string {
	if p, ok := findKeyPath(n, name, prefix); ok {
		return p
	}
	return name
}

func findKeyPath(n *yaml.Node, name, prefix string) (string, bool) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p, ok := findKeyPath(c, name, prefix); ok {
				return p, true
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				return join(name), true
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if p, ok := findKeyPath(n.Content[i+1], name, join(n.Content[i].Value)); ok {
				return p, true
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if p, ok := findKeyPath(c, name, fmt.Sprintf("%s[%d]", prefix, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// typeErrorField returns the path, with list positions, of the value a type error is about:
// encoding/json names the field without them ("identity.rules.priority"), so the first
// value at that path whose kind is the one the error names is taken.
func typeErrorField(root *yaml.Node, te *json.UnmarshalTypeError) string {
	want := strings.Fields(te.Value) // "string", "number 1.5", "array", "object", "bool"
	kind := ""
	if len(want) > 0 {
		kind = want[0]
	}
	var walk func(n *yaml.Node, parts []string, prefix string) (string, bool)
	walk = func(n *yaml.Node, parts []string, prefix string) (string, bool) {
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			return walk(n.Content[0], parts, prefix)
		}
		if n.Kind == yaml.SequenceNode && len(parts) > 0 {
			for i, c := range n.Content {
				if p, ok := walk(c, parts, fmt.Sprintf("%s[%d]", prefix, i)); ok {
					return p, true
				}
			}
			return "", false
		}
		if len(parts) == 0 {
			if n.Kind == yaml.MappingNode && kind != "object" {
				// A map's value (traits.rules.tier): encoding/json names only the map.
				for i := 0; i+1 < len(n.Content); i += 2 {
					if yamlKind(n.Content[i+1]) == kind {
						return prefix + "." + n.Content[i].Value, true
					}
				}
			}
			return prefix, yamlKind(n) == kind
		}
		kv := mappingValue(n, parts[0])
		if kv == nil {
			return "", false
		}
		if prefix != "" {
			prefix += "."
		}
		return walk(kv.value, parts[1:], prefix+parts[0])
	}
	if p, ok := walk(root, strings.Split(te.Field, "."), ""); ok {
		return p
	}
	return te.Field
}

// yamlKind is the JSON kind a YAML value decodes to.
func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "array"
	case yaml.MappingNode:
		return "object"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			return "number"
		case "!!bool":
			return "bool"
		case "!!null":
			return "null"
		}
		return "string"
	}
	return ""
}

// Config loads the configuration file the command was given (--config) and the identity
// normaliser of its rules.
func (e *Env) Config() (*FileConfig, *identity.Normalizer, error) {
	cfg, err := LoadFileConfig(e.CLI.Config)
	if err != nil {
		return nil, nil, err
	}
	norm, err := identity.NewNormalizer(cfg.Identity)
	if err != nil {
		return nil, nil, err
	}
	return cfg, norm, nil
}

// decodeYAML decodes YAML (or JSON, which is YAML) into v through JSON, so the json field
// names apply, and refuses unknown fields.
func decodeYAML(raw []byte, v any) error {
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("not a mapping of settings: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

// withArticle puts "a" or "an" before a kind of value as encoding/json names it ("array",
// "number 1.5").
func withArticle(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}
