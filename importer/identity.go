package importer

import (
	"fmt"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/bulk"
	"github.com/mosaic-cdp/mosaic/identity"
)

// Identity is the identity configuration imports are checked against.
type Identity struct {
	Config     identity.Config
	Normalizer *identity.Normalizer
}

// Check checks that the identity configuration reads every identifier the mapping writes
// (else the column would identify no one: an invalid error naming the setting), and returns
// the check of one value (bulk.CompileOptions.CheckIdentifier).
func (id *Identity) Check(m *bulk.Mapping) (func(path, value string) error, error) {
	typeOf := map[string]mosaic.IdentifierType{}
	for _, r := range id.Config.Rules {
		for _, p := range r.Paths {
			if _, ok := typeOf[p]; !ok {
				typeOf[p] = r.Type
			}
		}
	}
	for _, f := range m.Identifiers {
		if _, ok := typeOf[f.Path]; !ok {
			msg := fmt.Sprintf("No identity rule reads %s, so it would identify no one; declare the identifier type in the identity rules of the configuration file (paths: [%s]).", f.Path, f.Path)
			return nil, &mosaic.Error{Code: mosaic.EINVALID, Field: f.Setting, Message: fmt.Sprintf("Line %d: %s", f.Line, msg),
				Err: &bulk.MappingError{Line: f.Line, Field: f.Setting, Message: msg}}
		}
	}
	return func(path, value string) error {
		_, err := id.Normalizer.Normalize(typeOf[path], value)
		if hint := id.Normalizer.Hint(typeOf[path], value); err != nil && hint != "" {
			return &mosaic.Error{Code: mosaic.ErrorCode(err), Message: mosaic.ErrorMessage(err) + " " + hint, Err: err}
		}
		return err
	}, nil
}
