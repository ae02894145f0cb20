package match_test

import (
	"fmt"

	"github.com/mosaic-cdp/mosaic/match"
)

// Deduplicate customer records that share no identifier: train on the records themselves,
// then act on pairs by the two thresholds and explain one.
func Example() {
	// Stand-in customer data for the model to learn from (synthetic, febrl-like), plus Ada
	// twice: typed differently, with a missing street number the second time.
	schema, records, _ := synthPeople(1200, 1)
	records = append(records,
		match.Record{ID: "crm-17", Values: []string{"Ada", "Lovelace", "12", "Hill Street", "", "Marylebone", "2119", "NSW", "1815-12-10", "1804974"}},
		match.Record{ID: "web-42", Values: []string{"ada", "Lovelace ", "", "hill st", "", "marylebone", "2119", "nsw", "10/12/1815", "1804974"}})

	m, err := match.NewModel(schema, match.Options{MatchThreshold: 0.9, ReviewThreshold: 0.5})
	if err != nil {
		panic(err)
	}
	res, err := m.Match(records)
	if err != nil {
		panic(err)
	}
	a, b := len(records)-2, len(records)-1
	fmt.Println("same cluster:", res.Labels[a] == res.Labels[b])
	e, _ := m.Score(records[a], records[b])
	fmt.Println("decision:", m.Decide(e.Probability))
	for _, f := range e.Fields {
		fmt.Printf("%s: %s\n", f.Field, f.Level)
	}
	// Output:
	// same cluster: true
	// decision: match
	// given_name: exact
	// surname: exact
	// street_number: missing
	// address_1: jaro-winkler >= 0.92 or 80% of words shared
	// address_2: missing
	// suburb: exact
	// postcode: exact, as implied by suburb
	// state: exact
	// date_of_birth: exact
	// soc_sec_id: exact
}
