package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mosaic-cdp/mosaic"
	mhttp "github.com/mosaic-cdp/mosaic/http"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/traits"
)

// ProfileCmd groups the profile subcommands.
type ProfileCmd struct {
	Explain ProfileExplainCmd `cmd:"" help:"Explain why a profile's identifiers are together: every link with its evidence."`
	Rebuild ProfileRebuildCmd `cmd:"" help:"Rebuild profiles from their events under the survivorship rules in force (after a rule changed)."`
}

// ProfileRebuildCmd queues profiles for a rebuild and, unless a server processes the store
// (it applies the queue itself), applies it.
type ProfileRebuildCmd struct {
	Refs []string `arg:"" optional:"" help:"Profile ids, or identifiers as type:value (e.g. email:ada@example.com)."`
	All  bool     `help:"Rebuild every live profile."`
}

// Run implements the command.
func (c *ProfileRebuildCmd) Run(env *Env) error {
	switch {
	case c.All && len(c.Refs) > 0:
		return fmt.Errorf("give either profiles to rebuild or --all, not both")
	case !c.All && len(c.Refs) == 0:
		return fmt.Errorf("name the profiles to rebuild (ids or type:value), or give --all for every profile")
	}
	ps, err := openProfileStore(env)
	if err != nil {
		return err
	}
	defer ps.Close()
	fileCfg, norm, err := env.Config()
	if err != nil {
		return err
	}
	ctx := env.Ctx
	var ids []mosaic.ProfileID
	for _, ref := range c.Refs {
		p, err := findProfileRef(ctx, ps, norm, ref)
		for hops := 0; err == nil && p.MergedInto != "" && hops < 32; hops++ {
			fmt.Fprintf(env.Stdout, "profile %s was merged into %s\n", p.ID, p.MergedInto)
			p, err = ps.FindProfileByID(ctx, p.MergedInto)
		}
		if err != nil {
			return err
		}
		ids = append(ids, p.ID)
	}
	n, err := ps.QueueProfileRebuild(ctx, ids)
	if err != nil {
		return err
	}
	st, err := ps.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "queued %d %s for a rebuild (%d waiting in all)\n", n, plural(n, "profile", "profiles"), st.PendingRebuilds)
	_, err = applyQueued(env, ps, norm, fileCfg,
		"a server is processing this store: it rebuilds them under its own rules, not this command's --config (pending_rebuilds in /api/v1/stats counts down)",
		"profiles rebuilt", c.All)
	return err
}

// ProfileExplainCmd explains a profile.
type ProfileExplainCmd struct {
	Ref string `arg:"" help:"Profile id, or an identifier as type:value (e.g. email:ada@example.com)."`
}

type profileStore interface {
	mosaic.Store
	mosaic.IdentityService
	mosaic.ProfileService
}

func openProfileStore(env *Env) (profileStore, error) {
	store, _, err := env.OpenExistingStore()
	if err != nil {
		return nil, err
	}
	ps, ok := store.(profileStore)
	if !ok {
		store.Close()
		return nil, fmt.Errorf("this store does not keep profiles")
	}
	return ps, nil
}

// findProfileRef returns the profile a command line names: a profile id (perhaps merged
// away), or an identifier as type:value, normalised as the processor does.
func findProfileRef(ctx context.Context, ps profileStore, norm *identity.Normalizer, ref string) (*mosaic.Profile, error) {
	typ, val, ok := strings.Cut(ref, ":")
	if !ok || strings.HasPrefix(ref, "prof_") {
		p, err := ps.FindProfileByID(ctx, mosaic.ProfileID(ref))
		if mosaic.ErrorCode(err) == mosaic.ENOTFOUND && !strings.HasPrefix(ref, "prof_") {
			return nil, fmt.Errorf("%s: no profile has this id; name an identifier as type:value (email:%s, user_id:%s)", ref, ref, ref)
		} else if err != nil {
			return nil, fmt.Errorf("%s: %s", ref, mosaic.ErrorMessage(err))
		}
		return p, nil
	}
	v, err := norm.Normalize(mosaic.IdentifierType(typ), val)
	if err != nil {
		if hint := norm.Hint(mosaic.IdentifierType(typ), val); hint != "" {
			return nil, fmt.Errorf("%s: %s %s", ref, mosaic.ErrorMessage(err), hint)
		}
		return nil, fmt.Errorf("%s: %s", ref, mosaic.ErrorMessage(err))
	}
	secret, err := ps.IdentitySecret(ctx)
	if err != nil {
		return nil, err
	}
	p, err := ps.FindProfileByIdentifier(ctx, identity.Key(secret, mosaic.Identifier{Type: mosaic.IdentifierType(typ), Value: v}))
	if err != nil {
		return nil, fmt.Errorf("%s: %s", ref, mosaic.ErrorMessage(err))
	}
	return p, nil
}

// Run implements the command.
func (c *ProfileExplainCmd) Run(env *Env) error {
	ps, err := openProfileStore(env)
	if err != nil {
		return err
	}
	defer ps.Close()
	_, norm, err := env.Config()
	if err != nil {
		return err
	}
	ctx := env.Ctx
	p, err := findProfileRef(ctx, ps, norm, c.Ref)
	if err != nil {
		return err
	}
	for hops := 0; p.MergedInto != "" && hops < 32; hops++ {
		fmt.Fprintf(env.Stdout, "profile %s was merged into %s\n", p.ID, p.MergedInto)
		if p, err = ps.FindProfileByID(ctx, p.MergedInto); err != nil {
			return err
		}
	}
	g, err := mhttp.ExplainProfile(ctx, ps, p.ID)
	if err != nil {
		return err
	}
	srcs, err := ps.FindSources(ctx, mosaic.SourceFilter{})
	if err != nil {
		return err
	}
	names := map[mosaic.SourceID]string{}
	for _, s := range srcs {
		names[s.ID] = s.Name
	}
	source := func(id mosaic.SourceID) string { // its name, else the id (a source since deleted)
		if n, ok := names[id]; ok {
			return n
		}
		return string(id)
	}
	w := env.Stdout
	fmt.Fprintf(w, "profile %s: %d identifiers", p.ID, len(g.Identifiers))
	if len(p.MergedFrom) > 0 {
		fmt.Fprintf(w, ", merged from %s", strings.Join(idStrings(p.MergedFrom), ", "))
	}
	if len(p.Flags) > 0 {
		fmt.Fprintf(w, " [flagged: %s]", strings.Join(p.Flags, ", "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nIDENTIFIER\tFIRST SEEN\tNOTE")
	for _, r := range g.Identifiers {
		note := ""
		if r.Hub {
			note = "hub: seen with too many customers (user ids, or ids with limit 1), merges nothing"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Identifier, r.FirstSeen.Format(time.RFC3339), note)
	}
	fmt.Fprintln(tw, "\nLINK\tKIND\tEVIDENCE\tRESULT")
	for _, e := range g.Edges {
		result := "linked"
		switch {
		case e.Refused != "":
			result = "refused (" + e.Refused + ")"
		case !e.Linked:
			result = "not linked"
		}
		if e.OtherProfile != "" {
			result += " → other profile " + string(e.OtherProfile)
		}
		evidence := fmt.Sprintf("event %s from %s at %s", e.Evidence, source(e.SourceID), e.EventTime)
		if e.Kind == mosaic.EdgeProbabilistic {
			evidence = fmt.Sprintf("match %s (mosaic match review) at %s", e.Evidence, e.EventTime)
		}
		fmt.Fprintf(tw, "%s — %s\t%s\t%s\t%s\n", e.From, e.To, e.Kind, evidence, result)
	}
	if len(g.Splits) > 0 {
		fmt.Fprintln(tw, "\nSTEWARD'S SPLIT\tSINCE\tBY\tREASON")
		for _, sp := range g.Splits {
			what := ""
			if sp.Identifier != nil {
				what = sp.Identifier.String() + " merges with nothing"
			} else {
				what = sp.Block[0].String() + " never with " + sp.Block[1].String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", what, sp.CreatedAt, sp.By, sp.Reason)
		}
	}
	fmt.Fprintln(tw, "\nTRAIT\tVALUE\tWHY")
	for _, name := range slices.Sorted(maps.Keys(p.Traits)) {
		src := p.TraitSources[name]
		fmt.Fprintf(tw, "%s\t%s\t%s: event %s from %s at %s\n", name, p.Traits[name], src.Rule, src.MessageID, source(src.SourceID), src.EventTime.Format(time.RFC3339))
	}
	return tw.Flush()
}

func idStrings(ids []mosaic.ProfileID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// IdentityCmd groups the identity subcommands.
type IdentityCmd struct {
	DryRun IdentityDryRunCmd `cmd:"" name:"dry-run" help:"Replay history under a proposed rule set and report the merges and splits it would cause."`
	Replay IdentityReplayCmd `cmd:"" help:"Resolve every stored event again under the identity rules in force (after changing them)."`
}

// IdentityReplayCmd replays the stored events under the rules of the process that processes
// the store: a running server's, else this command's --config, run here.
type IdentityReplayCmd struct{}

// Run implements the command.
func (c *IdentityReplayCmd) Run(env *Env) error {
	cfg, norm, err := env.Config()
	if err != nil {
		return err
	}
	store, _, err := env.OpenExistingStore()
	if err != nil {
		return err
	}
	defer store.Close()
	rep, err := store.QueueIdentityReplay(env.Ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "replaying the events stored so far (ids up to %d)\n", rep.Through)
	_, err = applyQueued(env, store, norm, cfg, "a server is processing this store: it replays them under its identity rules (GET /api/v1/identity/replay shows how far it is)",
		"replayed: the identity graph is the one these rules give", false)
	return err
}

// IdentityDryRunCmd replays stored events under proposed identity rules.
type IdentityDryRunCmd struct {
	Rules string `arg:"" help:"Proposed configuration (YAML or JSON, same format as --config)." type:"existingfile"`
	Show  int    `help:"How many merges and splits to list." default:"10"`
}

// DryRunReport is the result of a dry run (its final JSON line).
type DryRunReport struct {
	Events         int `json:"events"`
	Identifiers    int `json:"identifiers"`
	ProfilesBefore int `json:"profiles_before"`
	ProfilesAfter  int `json:"profiles_after"`
	Merges         int `json:"merges"` // proposed profiles joining several current ones
	Splits         int `json:"splits"` // current profiles the proposal would separate
	Dropped        int `json:"dropped_identifiers"`
	Added          int `json:"new_identifiers"`
	Hubs           int `json:"hubs"`
	// Events whose profile the proposal changes: filed with identifiers of another current
	// profile (MovedEvents, merges that share no identifier show here), or with none it knows
	// (OrphanedEvents); GoneProfiles keep no identifier at all.
	MovedEvents    int `json:"moved_events"`
	OrphanedEvents int `json:"orphaned_events"`
	GoneProfiles   int `json:"gone_profiles"`
}

// Run implements the command.
func (c *IdentityDryRunCmd) Run(env *Env) error {
	proposed, err := LoadFileConfig(c.Rules)
	if err != nil {
		return err
	}
	proposedTraits := &proposed.Traits
	if len(proposed.Traits.SourcePriority) > 0 { // its source names must exist, as serve would check
		store, _, err := env.OpenExistingStore()
		if err != nil {
			return err
		}
		proposedTraits, err = resolveTraits(env, store, proposed)
		store.Close()
		if err != nil {
			return err
		}
	}
	norm, err := identity.NewNormalizer(proposed.Identity)
	if err != nil {
		return err
	}
	ps, err := openProfileStore(env)
	if err != nil {
		return err
	}
	defer ps.Close()
	ctx := env.Ctx
	// The baseline: the rules the stored events were resolved under (recorded by the process
	// that resolved them), else this command's --config.
	currentCfg, err := LoadFileConfig(env.CLI.Config)
	if err != nil {
		return err
	}
	baseline := "this command's --config"
	if raw, ok, err := ps.Setting(ctx, mosaic.SettingGraphIdentityRules); err != nil {
		return err
	} else if ok {
		var recorded identity.Config
		if json.Unmarshal([]byte(raw), &recorded) == nil {
			currentCfg.Identity, baseline = recorded, "the rules the stored events were resolved under"
		}
	}
	currentNorm, err := identity.NewNormalizer(currentCfg.Identity)
	if err != nil {
		return err
	}
	secret, err := ps.IdentitySecret(ctx)
	if err != nil {
		return err
	}
	// Replay every stored event under the proposed rules.
	rep := DryRunReport{}
	var nodes []mosaic.Identifier
	var edges []identity.Edge
	seen := map[mosaic.Identifier]bool{}
	currentIDs := map[mosaic.Identifier]bool{} // what today's rules extract, to find dropped ones
	// Each event's anchor now (stored) and under the proposal, to tell where it would go.
	type filed struct {
		now      mosaic.IdentifierKey
		proposed mosaic.Identifier // zero: no identifier under the proposal
	}
	var filings []filed
	cursor := ""
	for {
		evs, next, err := ps.FindEvents(ctx, mosaic.EventFilter{Limit: mosaic.MaxEventPage, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, e := range evs {
			rep.Events++
			for _, id := range currentNorm.Extract(e).Identifiers {
				currentIDs[id] = true
			}
			ids := norm.Extract(e).Identifiers
			// As the processor does: implicit links among the call's own identifiers, then the
			// alias links to previousId.
			implicit := norm.EventEdges(ids, identity.EdgeImplicit, e.Timestamp, e.MessageID, e.SourceID)
			for _, a := range norm.AliasEdges(e) {
				if !slices.Contains(ids, a.B) {
					ids = append(ids, a.B)
				}
				edges = append(edges, a)
			}
			for _, id := range ids {
				if !seen[id] {
					seen[id] = true
					nodes = append(nodes, id)
				}
			}
			edges = append(edges, implicit...)
			if e.Identity != "" {
				f := filed{now: e.Identity}
				f.proposed, _ = norm.Anchor(ids)
				filings = append(filings, f)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	keyOf := map[mosaic.Identifier]mosaic.IdentifierKey{}
	var keys []mosaic.IdentifierKey
	for id := range currentIDs {
		if !seen[id] {
			rep.Dropped++
		}
	}
	for _, id := range append(slices.Clone(nodes), slices.Collect(maps.Keys(currentIDs))...) {
		if _, ok := keyOf[id]; !ok {
			k := identity.Key(secret, id)
			keyOf[id] = k
			keys = append(keys, k)
		}
	}
	anchors := map[mosaic.IdentifierKey]bool{}
	for _, k := range keys {
		anchors[k] = true
	}
	for _, f := range filings {
		if !anchors[f.now] {
			anchors[f.now] = true
			keys = append(keys, f.now)
		}
	}
	current, err := ps.FindIdentifiers(ctx, keys)
	if err != nil {
		return err
	}
	profileOf := map[mosaic.IdentifierKey]mosaic.ProfileID{}
	for _, r := range current {
		profileOf[r.Key] = r.ProfileID
	}
	cons, err := ps.FindIdentityConstraints(ctx, keys)
	if err != nil {
		return err
	}
	byKey := map[mosaic.IdentifierKey]mosaic.Identifier{}
	for id, k := range keyOf {
		byKey[k] = id
	}
	constraints := identity.Constraints{Blocked: map[identity.Pair]bool{}, Removed: map[mosaic.Identifier]bool{}}
	for _, x := range cons {
		a, ok := byKey[x.A]
		if !ok {
			continue
		}
		if x.B == "" {
			constraints.Removed[a] = true
		} else if b, ok := byKey[x.B]; ok {
			constraints.Blocked[identity.MakePair(a, b)] = true
		}
	}
	// Links that no event carries: those probabilistic matching made (the rules decide them too).
	stored, err := ps.FindIdentityEdges(ctx, keys)
	if err != nil {
		return err
	}
	for _, e := range stored {
		a, okA := byKey[e.A]
		b, okB := byKey[e.B]
		if e.Kind == mosaic.EdgeProbabilistic && okA && okB && seen[a] && seen[b] {
			edges = append(edges, identity.Edge{A: a, B: b, Kind: e.Kind, EventTime: e.EventTime, Evidence: e.Evidence, SourceID: e.SourceID})
		}
	}
	res := norm.Resolve(nodes, edges, constraints)
	rep.Identifiers, rep.ProfilesAfter, rep.Hubs = len(nodes), len(res.Groups), len(res.Hubs)

	// Compare with the current partition.
	before := map[mosaic.ProfileID][]int{} // current profile → proposed groups holding its identifiers
	var merges, splits []string
	groupOf := map[mosaic.Identifier]int{}
	fromOf := make([]map[mosaic.ProfileID]bool, len(res.Groups)) // current profiles each group holds identifiers of
	for gi, g := range res.Groups {
		from := map[mosaic.ProfileID]bool{}
		fromOf[gi] = from
		for _, id := range g {
			groupOf[id] = gi
			if p := profileOf[keyOf[id]]; p != "" {
				from[p] = true
				before[p] = append(before[p], gi)
			} else {
				rep.Added++
			}
		}
		if len(from) > 1 {
			rep.Merges++
			merges = append(merges, fmt.Sprintf("  %s would join %s", describe(norm, g), strings.Join(idStrings(slices.Sorted(maps.Keys(from))), " + ")))
		}
	}
	// Where each event would go: a group holding none of its profile's identifiers is another
	// customer's (or a new one), and an event without identifiers goes nowhere.
	goneProfiles := map[mosaic.ProfileID]bool{}
	var moves []string
	for _, f := range filings {
		now := profileOf[f.now]
		if now == "" {
			continue
		}
		if _, kept := before[now]; !kept {
			goneProfiles[now] = true
		}
		gi, ok := groupOf[f.proposed]
		switch {
		case f.proposed == (mosaic.Identifier{}) || !ok:
			rep.OrphanedEvents++
		case !fromOf[gi][now]:
			rep.MovedEvents++
			if to := slices.Sorted(maps.Keys(fromOf[gi])); len(to) > 0 && len(moves) < 1000 {
				moves = append(moves, fmt.Sprintf("  events of %s would go to %s, filed under %s", now, strings.Join(idStrings(to), " + "), f.proposed))
			}
		}
	}
	rep.GoneProfiles = len(goneProfiles)
	moves = slices.Compact(slices.Sorted(slices.Values(moves)))
	for p, groups := range before {
		if len(slices.Compact(slices.Sorted(slices.Values(groups)))) > 1 {
			rep.Splits++
			splits = append(splits, fmt.Sprintf("  %s would split into %d profiles", p, len(slices.Compact(slices.Sorted(slices.Values(groups))))))
		}
	}
	// The profiles there are now, whatever the proposal reads (a profile of identifier types
	// only the current rules know still counts).
	st, err := ps.Stats(ctx)
	if err != nil {
		return err
	}
	rep.ProfilesBefore = int(st.Profiles)
	slices.Sort(merges)
	slices.Sort(splits)
	w := env.Stdout
	fmt.Fprintf(w, "replayed %d events, %d identifiers under %s\n", rep.Events, rep.Identifiers, c.Rules)
	fmt.Fprintf(w, "profiles: %d now, %d under the proposed rules\n", rep.ProfilesBefore, rep.ProfilesAfter)
	fmt.Fprintf(w, "merges: %d\n", rep.Merges)
	for _, m := range merges[:min(c.Show, len(merges))] {
		fmt.Fprintln(w, m)
	}
	fmt.Fprintf(w, "splits: %d\n", rep.Splits)
	for _, s := range splits[:min(c.Show, len(splits))] {
		fmt.Fprintln(w, s)
	}
	fmt.Fprintf(w, "events that would change profile: %d (filed with another profile's identifiers: %d; with no identifier the proposal reads: %d); profiles left without identifiers: %d\n",
		rep.MovedEvents+rep.OrphanedEvents, rep.MovedEvents, rep.OrphanedEvents, rep.GoneProfiles)
	for _, m := range moves[:min(c.Show, len(moves))] {
		fmt.Fprintln(w, m)
	}
	fmt.Fprintf(w, "identifiers no longer recognised: %d; newly recognised: %d (against %s); hubs: %d\n", rep.Dropped, rep.Added, baseline, rep.Hubs)
	// A rules list replaces the defaults whole: name the types it leaves out.
	var gone []string
	for _, r := range currentCfg.Identity.Rules {
		if _, ok := norm.Rule(r.Type); !ok {
			gone = append(gone, string(r.Type))
		}
	}
	if len(gone) > 0 {
		fmt.Fprintf(w, "warning: the proposed rules declare no %s (declared in %s): a rules list replaces the rules whole, so every event would lose those identifiers and the profiles they hold together would fall apart; list every type you keep\n",
			strings.Join(gone, ", "), baseline)
	}
	if rep.Merges+rep.Splits+rep.Added+rep.Dropped+rep.MovedEvents+rep.OrphanedEvents > 0 {
		fmt.Fprintf(w, "to apply it: serve with --config %s, then run mosaic identity replay\n", c.Rules)
	}
	// The survivorship rules are not replayed: say so when they differ.
	var built traits.Config
	if raw, ok, err := ps.Setting(ctx, mosaic.SettingProfileTraitRules); err != nil {
		return err
	} else if ok && json.Unmarshal([]byte(raw), &built) == nil {
		if changed := changedTraitRules(built, *proposedTraits); len(changed) > 0 {
			fmt.Fprintf(w, "survivorship rules differ from those the profiles were built under (%s): a dry run replays identities only, not traits; other rules apply to the values that arrive after a restart with them, and to the stored ones after mosaic profile rebuild --all\n",
				strings.Join(changed, ", "))
		}
	}
	out, _ := json.Marshal(rep)
	fmt.Fprintln(w, string(out))
	return nil
}

// describe shows a group by its first identifiers in priority order, anonymous ids last
// (a customer number before the generated anonymous ids of its rows).
func describe(norm *identity.Normalizer, g []mosaic.Identifier) string {
	g = slices.Clone(g)
	anon := func(id mosaic.Identifier) bool { return id.Type == mosaic.IdentifierAnonymousID }
	slices.SortStableFunc(g, func(a, b mosaic.Identifier) int {
		if anon(a) != anon(b) {
			if anon(a) {
				return 1
			}
			return -1
		}
		return cmp.Compare(norm.Priority(a.Type), norm.Priority(b.Type))
	})
	var parts []string
	for _, id := range g[:min(3, len(g))] {
		parts = append(parts, id.String())
	}
	if len(g) > 3 {
		parts = append(parts, fmt.Sprintf("+%d more", len(g)-3))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// plural returns one when n is 1, else many.
func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
