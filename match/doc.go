// Package match links records that share no normalised identifier: probabilistic record
// linkage in the Fellegi–Sunter model, learned without labels.
//
// The flow, for a set of records with an opaque ID and named string fields:
//
//   - Each field has a Kind (Name, Date, Postcode, Email, Phone, Numeric, ID, Category, Text),
//     given by the caller or inferred from column names and content (InferSchema). The kind
//     decides how a value is normalised and which comparison levels two values can reach
//     (exact, Jaro-Winkler bands, sounds-alike, one typo, date within a year, same last
//     digits of a phone, …). A missing value gives the neutral "missing" level.
//   - Blocking proposes candidate pairs: the union of several rules (exact or phonetic keys,
//     alone or in pairs of fields), chosen automatically from the kinds and the data so that
//     each rule stays within a pair budget. Blocks larger than a bound are skipped, so the
//     cost stays bounded; a pair that no rule proposes is never compared.
//   - u-probabilities (how often two unrelated records reach each level) come from pairs
//     sampled at random (exact-match u from value frequencies); m-probabilities (how often a
//     true match does) and the share of matches come from expectation maximisation over the
//     candidate pairs' comparison patterns — no labels, as Splink does. Exact matches on rare
//     values weigh more than on common ones (term-frequency adjustment), and a field nearly
//     determined by another (a postcode by its suburb) counts once when both agree
//     (dependence correction, found from the records' values and used by EM too).
//   - Without labels, EM fits look-alikes as matches when the data hold few duplicates (a
//     store already deduplicated). Three properties of true duplicates guard against it (see
//     em.go): a field's weight never rises as its levels get less similar (so "different"
//     never weighs for a match); a level that the match class reaches more often than every
//     closer one is taken as disagreement, as copies are mostly exact and look-alikes mostly
//     barely similar; and when most of the matches EM expects are pairs it finds doubtful,
//     there is no evidence of duplicates (Stats().NoEvidence) and the prior falls back to one
//     match among all pairs.
//   - A pair's match weight is the sum of its fields' log2(m/u) plus the prior; its match
//     probability follows. Explain gives the per-field breakdown (field, level, weight).
//   - Cluster joins pairs above the match threshold into entities (connected components);
//     ClusterMax guards against chaining by joining the strongest pairs first and refusing a
//     pair that would make a cluster too large. Pairs between the review and match
//     thresholds are for a steward to decide.
//
// The package holds no I/O; Evaluate scores a clustering against known true pairs.
package match
