package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/linkage"
	"github.com/mosaic-cdp/mosaic/processor"
)

// MatchingConfig is the matching section of the configuration file.
//
//	matching:
//	  auto_threshold: 0.95    # link without review at or above this match probability
//	  review_threshold: 0.5   # wait for a steward from this probability
//	  max_cluster_size: 10    # automatic links join at most this many profiles
type MatchingConfig struct {
	AutoThreshold   float64 `json:"auto_threshold"`
	ReviewThreshold float64 `json:"review_threshold"`
	MaxClusterSize  int     `json:"max_cluster_size"`
}

// MatchRunCmd runs probabilistic matching over the store's profiles.
type MatchRunCmd struct {
	Auto   float64 `name:"auto-threshold" help:"Match probability at or above which a pair links without review (default 0.95, or the config file's matching.auto_threshold)." placeholder:"P"`
	Review float64 `name:"review-threshold" help:"Match probability from which a pair waits for a steward (default 0.5, or matching.review_threshold)." placeholder:"P"`
	DryRun bool    `name:"dry-run" help:"Score and report, record nothing."`
	NoWait bool    `name:"no-wait" help:"Record the links but do not wait for the processor to merge the profiles."`
}

// Run implements the command.
func (c *MatchRunCmd) Run(env *Env) error {
	cfg, norm, err := env.Config()
	if err != nil {
		return err
	}
	store, _, err := env.OpenExistingStore()
	if err != nil {
		return err
	}
	defer store.Close()
	run := &linkage.Run{Store: store, Normalizer: norm, DryRun: c.DryRun,
		AutoThreshold: cmp.Or(c.Auto, cfg.Matching.AutoThreshold), ReviewThreshold: cmp.Or(c.Review, cfg.Matching.ReviewThreshold),
		MaxClusterSize: cfg.Matching.MaxClusterSize,
		Progress: func(stage string, done, total int) {
			env.Logger.Debug("matching", "stage", stage, "done", done, "total", total)
		}}
	res, err := run.Do(env.Ctx)
	if err != nil {
		return err
	}
	printMatchRun(env.Stdout, res, c.DryRun)
	if c.DryRun || c.NoWait || res.Recorded.Linked == 0 {
		return nil
	}
	here, err := applyLinks(env, store, norm, cfg)
	if err != nil || !here {
		return err
	}
	refused, err := refusedMatchLinks(env.Ctx, store)
	if err == nil && refused > 0 {
		fmt.Fprintf(env.Stdout, "  of the linked pairs, %d stay apart: the identifier rules refused their link (each one's own user id, most often; GET /api/v1/matches/ID shows link.refused)\n", refused)
	}
	return err
}

func printMatchRun(w io.Writer, res *linkage.Result, dry bool) {
	fmt.Fprintf(w, "compared %d profiles on %d fields:", res.Profiles, len(res.Fields))
	for _, f := range res.Fields {
		fmt.Fprintf(w, " %s (%s)", f.Name, f.Kind)
	}
	fmt.Fprintln(w)
	if res.Truncated {
		fmt.Fprintln(w, "  (only the first profiles were read: the run's profile limit was reached)")
	}
	fmt.Fprintf(w, "  pairs compared   %10d\n", res.PairsCompared)
	if res.TooFew {
		fmt.Fprintf(w, "  too few profiles to learn from: matching learns what duplicates look like from the store's own profiles and needs at least %d with two compared fields; nothing proposed (profiles sharing an identifier merge without it)\n", linkage.MinProfiles)
	}
	if res.NoEvidence {
		fmt.Fprintln(w, "  no evidence of duplicates: the profiles show no group of pairs that agree like duplicates")
	}
	fmt.Fprintf(w, "  candidates       %10d   (%d at or above the auto-merge threshold)\n", res.Candidates, res.Auto)
	if dry {
		fmt.Fprintln(w, "  dry run: nothing recorded")
	} else {
		fmt.Fprintf(w, "  linked           %10d\n", res.Recorded.Linked)
		fmt.Fprintf(w, "  waiting review   %10d   (mosaic match review list)\n", res.Recorded.Queued)
		fmt.Fprintf(w, "  decided before   %10d   (left as they were)\n", res.Recorded.Decided)
		if res.Recorded.Merged > 0 {
			fmt.Fprintf(w, "  merged already   %10d   (in one profile by now)\n", res.Recorded.Merged)
		}
	}
	fmt.Fprintf(w, "  seconds          %10.1f\n", res.Seconds)
}

// applyLinks runs the processor until the queued recomputes are done, unless a server holds
// the processor lease (it applies them itself).
func applyLinks(env *Env, store mosaic.Store, norm *identity.Normalizer, cfg *FileConfig) (here bool, err error) {
	return applyQueued(env, store, norm, cfg, "a server is processing this store: it applies the links to the profiles (GET /api/v1/matches/ID shows each link's state)", "profiles updated", false)
}

// refusedMatchLinks counts the linked and accepted candidates whose link the identifier
// rules refused (two user ids, a hub): the pairs matching linked that stay apart.
func refusedMatchLinks(ctx context.Context, store mosaic.Store) (int, error) {
	n := 0
	for _, status := range []mosaic.MatchStatus{mosaic.MatchLinked, mosaic.MatchAccepted} {
		for cursor := ""; ; {
			cs, next, err := store.FindMatchCandidates(ctx, mosaic.MatchFilter{Status: status, Limit: mosaic.MaxMatchPage, Cursor: cursor})
			if err != nil {
				return 0, err
			}
			for _, c := range cs {
				link, err := mosaic.FindMatchLink(ctx, store, c)
				if err != nil {
					return 0, err
				}
				if link.State == mosaic.MatchLinkRefused {
					n++
				}
			}
			if cursor = next; next == "" {
				break
			}
		}
	}
	return n, nil
}

// applyQueued runs the processor until the store's queued work (inbox, recomputes, rebuilds)
// is done and prints done, unless a server holds the processor lease: it does the work
// itself, which busy says. fullRebuild says every profile is queued for a rebuild
// (leasedProcessor.FullRebuild; with a server, mosaic.MarkFullRebuild).
func applyQueued(env *Env, store mosaic.Store, norm *identity.Normalizer, cfg *FileConfig, busy, done string, fullRebuild bool) (here bool, err error) {
	stages, err := pipelineStages(env, store, norm, cfg)
	if err != nil {
		return false, err
	}
	lp := &leasedProcessor{Store: store, Logger: env.Logger, FullRebuild: fullRebuild, Proc: &processor.Processor{Store: store,
		Stages: stages, BatchSize: env.CLI.BatchEvents, Poll: 50 * time.Millisecond, Logger: env.Logger.With("component", "processor")}}
	switch err := lp.Open(env.Ctx); {
	case mosaic.ErrorCode(err) == mosaic.ECONFLICT:
		if fullRebuild {
			if err := mosaic.MarkFullRebuild(env.Ctx, store); err != nil {
				return false, err
			}
		}
		fmt.Fprintln(env.Stdout, busy)
		return false, nil
	case err != nil:
		return false, err
	}
	defer lp.Close()
	ctx, cancel := context.WithTimeout(env.Ctx, time.Hour)
	defer cancel()
	if err := lp.Proc.Drain(ctx); err != nil {
		return true, fmt.Errorf("processing (%s): %w", done, err)
	}
	fmt.Fprintln(env.Stdout, done)
	return true, nil
}

// MatchReviewCmd lists and decides the pairs waiting for a steward.
type MatchReviewCmd struct {
	List   MatchReviewListCmd `cmd:"" default:"withargs" help:"List candidates (pending ones by default), highest probability first."`
	Accept MatchAcceptCmd     `cmd:"" help:"Accept candidates: their profiles are linked (and merged by the processor)."`
	Reject MatchRejectCmd     `cmd:"" help:"Reject candidates: the pair is never proposed again, and a link already made is undone."`
}

// MatchReviewListCmd lists candidates.
type MatchReviewListCmd struct {
	Status string `help:"pending (those still in two profiles), linked, accepted, rejected, or all." default:"pending" enum:"pending,linked,accepted,rejected,all"`
	Limit  int    `help:"How many to show (1 to 500)." default:"50"`
	Cursor string `help:"Where to go on from: the cursor the previous page printed." placeholder:"CURSOR"`
}

// Run implements the command.
func (c *MatchReviewListCmd) Run(env *Env) error {
	store, _, err := env.OpenExistingStore()
	if err != nil {
		return err
	}
	defer store.Close()
	status := mosaic.MatchStatus(c.Status)
	if status == "all" {
		status = ""
	}
	if c.Limit < 1 || c.Limit > mosaic.MaxMatchPage {
		return fmt.Errorf("--limit: give a number from 1 to %d (page on with --cursor)", mosaic.MaxMatchPage)
	}
	cs, next, err := store.FindMatchCandidates(env.Ctx, mosaic.MatchFilter{Status: status, Open: status == mosaic.MatchPending,
		Limit: c.Limit, Cursor: c.Cursor})
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		fmt.Fprintln(env.Stdout, "no candidates")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROBABILITY\tSTATUS\tPROFILES\tSTRONGEST EVIDENCE")
	for _, m := range cs {
		fmt.Fprintf(tw, "%s\t%.4f\t%s\t%s %s\t%s\n", m.ID, m.Probability, m.Status, m.ProfileA, m.ProfileB, evidence(m.Weights, 3))
	}
	tw.Flush()
	if next != "" {
		fmt.Fprintf(env.Stdout, "more: --cursor %s\n", next)
	}
	return nil
}

// evidence names the n fields that weigh most for the pair.
func evidence(ws []mosaic.MatchWeight, n int) string {
	sorted := append([]mosaic.MatchWeight(nil), ws...)
	for i := range sorted { // a short insertion sort by weight, strongest first
		for j := i; j > 0 && sorted[j].Weight > sorted[j-1].Weight; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	var parts []string
	for _, w := range sorted[:min(n, len(sorted))] {
		parts = append(parts, fmt.Sprintf("%s %s (%+.1f)", w.Field, w.Level, w.Weight))
	}
	return strings.Join(parts, ", ")
}

// MatchAcceptCmd accepts candidates.
type MatchAcceptCmd struct {
	IDs []string `arg:"" help:"Candidate ids (mc_…)." placeholder:"ID"`
	By  string   `help:"Who decides (kept with the decision)." default:"cli"`
}

// Run implements the command.
func (c *MatchAcceptCmd) Run(env *Env) error { return decideMatches(env, c.IDs, true, c.By) }

// MatchRejectCmd rejects candidates.
type MatchRejectCmd struct {
	IDs []string `arg:"" help:"Candidate ids (mc_…)." placeholder:"ID"`
	By  string   `help:"Who decides (kept with the decision)." default:"cli"`
}

// Run implements the command.
func (c *MatchRejectCmd) Run(env *Env) error { return decideMatches(env, c.IDs, false, c.By) }

func decideMatches(env *Env, ids []string, accept bool, by string) error {
	cfg, norm, err := env.Config()
	if err != nil {
		return err
	}
	store, _, err := env.OpenExistingStore()
	if err != nil {
		return err
	}
	defer store.Close()
	var decided []*mosaic.MatchCandidate
	for _, id := range ids {
		m, err := store.DecideMatch(env.Ctx, id, accept, by)
		if err != nil {
			return fmt.Errorf("%s: %s", id, cliMessage(err))
		}
		fmt.Fprintf(env.Stdout, "%s %s\n", m.ID, m.Status)
		decided = append(decided, m)
	}
	here, err := applyLinks(env, store, norm, cfg) // merges accepted pairs, splits rejected links
	if err != nil || !here {
		return err // a server applies them: its state shows later
	}
	// Accepting writes a link that the identifier rules may still refuse: say so.
	for _, m := range decided {
		if m.Status != mosaic.MatchAccepted && m.Status != mosaic.MatchLinked {
			continue
		}
		link, err := mosaic.FindMatchLink(env.Ctx, store, m)
		if err != nil {
			return err
		}
		if link.State == mosaic.MatchLinkRefused {
			fmt.Fprintf(env.Stdout, "%s: the link was refused (%s), so the two profiles stay apart\n", m.ID, link.Refused)
		}
	}
	return nil
}
