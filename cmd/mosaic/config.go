package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
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
	if err := decodeYAML(raw, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case cfg.Identity.Rules == nil:
		cfg.Identity.Rules = defaults
	case len(cfg.Identity.Rules) == 0:
		return nil, fmt.Errorf("%s: identity.rules: the list is empty; leave it out to keep the default rules", path)
	}
	if _, err := identity.NewNormalizer(cfg.Identity); err != nil {
		return nil, fmt.Errorf("%s: identity.%s: %s", path, mosaic.ErrorField(err), mosaic.ErrorMessage(err))
	}
	if err := cfg.Traits.Validate(); err != nil {
		return nil, fmt.Errorf("%s: traits.%s: %s", path, mosaic.ErrorField(err), mosaic.ErrorMessage(err))
	}
	return cfg, nil
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
