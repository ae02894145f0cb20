package match

import (
	"encoding/json"
	"fmt"

	"github.com/mosaic-cdp/mosaic"
)

// modelFile is a trained model as JSON: what Score and Candidates need, so that a model
// trained once (say nightly, on a sample) scores new records without retraining.
type modelFile struct {
	Version int         `json:"version"`
	Schema  Schema      `json:"schema"`
	Options Options     `json:"options"`
	Prior   float64     `json:"prior"`
	Stats   TrainStats  `json:"stats"`
	Fields  []fieldFile `json:"fields"`
	Deps    []depFile   `json:"dependencies,omitempty"`
}

type depFile struct {
	F      int     `json:"on"`
	G      int     `json:"field"`
	Weight float64 `json:"weight"`
}

type fieldFile struct {
	M      []float64        `json:"m"`
	U      []float64        `json:"u"`
	W      []float64        `json:"w"`
	Counts map[string]int32 `json:"counts,omitempty"` // value frequencies, for term-frequency adjustment
	N      int              `json:"n"`
	UExact float64          `json:"u_exact"`
	TF     bool             `json:"tf"`
	Spread float64          `json:"spread,omitempty"`
}

const modelVersion = 1

// MarshalJSON writes a trained model. The value frequencies it keeps for term-frequency
// adjustment hold the training data's normalised values, so treat the file as personal data.
func (m *Model) MarshalJSON() ([]byte, error) {
	if !m.ok {
		return nil, errUntrained()
	}
	f := modelFile{Version: modelVersion, Schema: m.schema, Options: m.opts, Prior: m.prior, Stats: m.stats}
	for _, fm := range m.fields {
		f.Fields = append(f.Fields, fieldFile{M: fm.m, U: fm.u, W: fm.w, Counts: fm.counts, N: fm.n, UExact: fm.uExact, TF: fm.tf, Spread: fm.spread})
	}
	for _, d := range m.deps {
		f.Deps = append(f.Deps, depFile{d.f, d.g, d.weight})
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads a model MarshalJSON wrote; it returns invalid for anything else.
func (m *Model) UnmarshalJSON(b []byte) error {
	var f modelFile
	if err := json.Unmarshal(b, &f); err != nil {
		return &mosaic.Error{Code: mosaic.EINVALID, Message: "Not a match model.", Err: err}
	}
	if f.Version != modelVersion {
		return mosaic.Errorf(mosaic.EINVALID, "Match model version %d is not supported (want %d).", f.Version, modelVersion)
	}
	nm, err := NewModel(f.Schema, f.Options)
	if err != nil {
		return err
	}
	if len(f.Fields) != len(f.Schema.Fields) {
		return mosaic.Errorf(mosaic.EINVALID, "The match model has %d field parameters for %d fields.", len(f.Fields), len(f.Schema.Fields))
	}
	nm.fields = make([]fieldModel, len(f.Fields))
	for i, ff := range f.Fields {
		k := f.Schema.Fields[i].Kind
		L := len(kindLevels[k])
		if len(ff.M) != L || len(ff.U) != L || len(ff.W) != L {
			return mosaic.FieldErrorf(mosaic.EINVALID, fmt.Sprintf("fields[%d]", i), "Field %q needs %d levels.", f.Schema.Fields[i].Name, L)
		}
		fm := fieldModel{kind: k, levels: kindLevels[k], m: ff.M, u: ff.U, w: ff.W, counts: ff.Counts, n: ff.N, uExact: ff.UExact, tf: ff.TF, spread: ff.Spread}
		if fm.counts == nil && k != Ignore {
			fm.counts = map[string]int32{}
		}
		nm.fields[i] = fm
	}
	for _, d := range f.Deps {
		if d.F < 0 || d.G < 0 || d.F >= len(f.Fields) || d.G >= len(f.Fields) || d.F == d.G {
			return mosaic.Errorf(mosaic.EINVALID, "The match model has a bad dependence (%d, %d).", d.F, d.G)
		}
		nm.deps = append(nm.deps, dependence{f: d.F, g: d.G, weight: d.Weight})
	}
	nm.prior, nm.stats, nm.ok = f.Prior, f.Stats, true
	*m = *nm
	return nil
}
