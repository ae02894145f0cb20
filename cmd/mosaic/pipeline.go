package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mosaic-cdp/mosaic"
	"github.com/mosaic-cdp/mosaic/bulk"
	"github.com/mosaic-cdp/mosaic/groupcommit"
	"github.com/mosaic-cdp/mosaic/identity"
	"github.com/mosaic-cdp/mosaic/importer"
	"github.com/mosaic-cdp/mosaic/processor"
	"github.com/mosaic-cdp/mosaic/traits"
)

// pipelineStages returns the processor stages every processor of a store runs (mosaic serve,
// and mosaic import when no server runs), so that imported and API data go through the same
// pipeline. The sources of traits.source_priority are resolved here, by id or name.
func pipelineStages(env *Env, store mosaic.Store, norm *identity.Normalizer, cfg *FileConfig) ([]processor.Stage, error) {
	tr, err := resolveTraits(env, store, cfg)
	if err != nil {
		return nil, err
	}
	var stages []processor.Stage
	if ids, ok := store.(mosaic.IdentityService); ok {
		stages = []processor.Stage{
			&processor.Dedupe{Store: ids},
			&processor.Identity{Store: ids, Normalizer: norm, Traits: tr, CacheSize: identityCacheEntries(env.CLI.CacheMB)},
		}
	}
	return stages, nil
}

// identityCacheEntries is how many identifiers (and as many links) the identity stage keeps
// in memory within three quarters of cacheMB: an identifier and a link take about 490 bytes
// of heap together (470 measured with 200k of each, email-like values, before records kept
// their origin profile: one more string header, 16 bytes a record).
func identityCacheEntries(cacheMB int) int {
	return max(cacheMB*3/4<<20/490, 1000)
}

// resolveTraits returns cfg with the sources of source_priority, given in the configuration
// file by name (or id), as ids: observations carry only the id of their source.
func resolveTraits(env *Env, store mosaic.Store, file *FileConfig) (*traits.Config, error) {
	cfg := file.Traits
	if len(cfg.SourcePriority) == 0 {
		return &cfg, nil
	}
	ids := make([]mosaic.SourceID, len(cfg.SourcePriority))
	for i, ref := range cfg.SourcePriority {
		src, err := findSource(env, store, string(ref))
		if mosaic.ErrorCode(err) == mosaic.ENOTFOUND {
			return nil, fmt.Errorf("%s: no source with id or name %q (see mosaic source list; create it with: mosaic source create %s)",
				file.At(fmt.Sprintf("traits.source_priority[%d]", i)), ref, ref)
		} else if err != nil {
			return nil, err
		}
		if j := slices.Index(ids, src.ID); j >= 0 {
			return nil, fmt.Errorf("%s: %q is the source of traits.source_priority[%d] again", file.At(fmt.Sprintf("traits.source_priority[%d]", i)), ref, j)
		}
		ids[i] = src.ID
	}
	cfg.SourcePriority = ids
	return &cfg, nil
}

// leasedProcessor runs a processor only while this process holds the store's processor lease
// (mosaic.ProcessorLocker): two processors on one store would corrupt the identity stage's
// caches. Open takes the lease at once if it is free; if another process holds it (a
// mosaic import processing its rows) and Wait is set, it keeps trying in the background and
// starts the processor when it gets it.
type leasedProcessor struct {
	Proc   *processor.Processor
	Store  mosaic.Store
	Logger *slog.Logger
	Retry  time.Duration // how often to try for a held lease; 2s when 0
	// Wait makes Open keep trying for a held lease in the background; without it Open
	// returns conflict.
	Wait bool
	// Identity, if set, is recorded in the store once the lease is taken: the identifier paths
	// its rules read, so a command that appends while this process processes can tell it
	// declares identifiers this process would not read (checkProcessorReads).
	Identity *identity.Config
	// FullRebuild tells the process it will rebuild every profile (mosaic profile rebuild
	// --all): the profiles will be built under its rules, so it does not warn that they were
	// built under others (checkTraitRules).
	FullRebuild bool
	// Check, if set, is run once the lease is taken and before anything is recorded: an
	// error releases the lease and is Open's, so a command refused for what it would process
	// leaves the store's record of the processing rules as it was.
	Check func() error

	mu      sync.Mutex
	running bool
	release func() error
	stop    chan struct{}
	done    chan struct{}
}

// Open starts the processor, now or once the lease is free.
func (l *leasedProcessor) Open(ctx context.Context) error {
	if l.Retry <= 0 {
		l.Retry = 2 * time.Second
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	started, err := l.try(ctx)
	if err != nil || started {
		close(l.done)
		return err
	}
	if !l.Wait {
		close(l.done)
		return mosaic.Errorf(mosaic.ECONFLICT, "Another process holds the processor lease.")
	}
	l.Logger.Warn("another process holds the processor lease (a mosaic import?); serving without processing until it ends")
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.Retry)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
			if started, err := l.try(ctx); started {
				l.Logger.Info("processor lease taken; processing")
				return
			} else if err != nil {
				l.Logger.Error("processor lease", "err", err)
			}
		}
	}()
	return nil
}

// try takes the lease and starts the processor; false (and no error) while it is held.
func (l *leasedProcessor) try(ctx context.Context) (bool, error) {
	var release func() error
	if lk, ok := l.Store.(mosaic.ProcessorLocker); ok {
		var err error
		if release, err = lk.LockProcessor(ctx); mosaic.ErrorCode(err) == mosaic.ECONFLICT {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
	if l.Check != nil {
		if err := l.Check(); err != nil {
			if release != nil {
				release()
			}
			return false, err
		}
	}
	if l.Identity != nil {
		if err := l.Store.PutSetting(ctx, processorPathsSetting, identityPaths(*l.Identity)); err != nil {
			if release != nil {
				release()
			}
			return false, err
		}
	}
	if err := l.checkTraitRules(ctx); err != nil {
		if release != nil {
			release()
		}
		return false, err
	}
	if err := l.checkIdentityRules(ctx); err != nil {
		if release != nil {
			release()
		}
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.stop:
		if release != nil {
			release()
		}
		return false, nil
	default:
	}
	if err := l.Proc.Open(); err != nil {
		if release != nil {
			release()
		}
		return false, err
	}
	l.running, l.release = true, release
	return true, nil
}

// checkTraitRules records the survivorship rules this process processes with, and warns when
// the stored profiles were built under other rules: they keep the values derived under those
// until they are rebuilt from their events (a rule applies from the next observation), so the
// warning names what changed and the command that rebuilds them. It warns at every start
// until a rebuild of every profile is queued (mosaic.MarkFullRebuild), or, with FullRebuild
// set, this process is about to rebuild them itself.
func (l *leasedProcessor) checkTraitRules(ctx context.Context) error {
	var cfg *traits.Config
	for _, st := range l.Proc.Stages {
		if id, ok := st.(*processor.Identity); ok {
			cfg = id.Traits
		}
	}
	if cfg == nil {
		return nil
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cur := string(raw)
	if err := l.Store.PutSetting(ctx, mosaic.SettingProcessorTraitRules, cur); err != nil {
		return err
	}
	built, ok, err := l.Store.Setting(ctx, mosaic.SettingProfileTraitRules)
	if err != nil {
		return err
	}
	if !ok || l.FullRebuild {
		return l.Store.PutSetting(ctx, mosaic.SettingProfileTraitRules, cur)
	}
	var prev traits.Config
	if built == cur || json.Unmarshal([]byte(built), &prev) != nil {
		return nil
	}
	changed := changedTraitRules(prev, *cfg)
	if len(changed) == 0 {
		return nil
	}
	st, err := l.Store.Stats(ctx)
	if err != nil || st.Profiles == 0 {
		return l.Store.PutSetting(ctx, mosaic.SettingProfileTraitRules, cur) // nothing built yet
	}
	l.Logger.Warn("the stored profiles were built under other survivorship rules: they keep the values derived under those (a rule applies from a trait's next observation) until they are rebuilt from their events; run `mosaic profile rebuild --all` (or POST /api/v1/profiles/rebuild {\"all\":true})",
		"changed", strings.Join(changed, ", "), "profiles", st.Profiles)
	return nil
}

// checkIdentityRules records the identity rules this process processes with, and warns when
// the stored identity graph was built under other rules: events stored before keep the
// identifiers and links those gave (a rule applies to events processed after it) until they
// are replayed, so the warning names what changed and the command that replays them. It
// warns at every start until a replay is queued; a process that takes the lease while one
// waits will run it, so its rules become the graph's.
func (l *leasedProcessor) checkIdentityRules(ctx context.Context) error {
	var norm *identity.Normalizer
	for _, st := range l.Proc.Stages {
		if id, ok := st.(*processor.Identity); ok {
			norm = id.Normalizer
		}
	}
	ids, ok := l.Store.(mosaic.IdentityService)
	if norm == nil || !ok {
		return nil
	}
	cfg := norm.Config()
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cur := string(raw)
	if err := l.Store.PutSetting(ctx, mosaic.SettingProcessorIdentityRules, cur); err != nil {
		return err
	}
	built, ok, err := l.Store.Setting(ctx, mosaic.SettingGraphIdentityRules)
	if err != nil {
		return err
	}
	replay, err := ids.IdentityReplay(ctx)
	if err != nil {
		return err
	}
	if !ok || replay != nil {
		if err := l.Store.PutSetting(ctx, mosaic.SettingMixedIdentityRules, "[]"); err != nil {
			return err
		}
		return l.Store.PutSetting(ctx, mosaic.SettingGraphIdentityRules, cur)
	}
	// The rule sets events were resolved under since the graph's: its own, and the others
	// processes ran under meanwhile.
	var mixed []json.RawMessage
	if raw, ok, err := l.Store.Setting(ctx, mosaic.SettingMixedIdentityRules); err != nil {
		return err
	} else if ok {
		json.Unmarshal([]byte(raw), &mixed)
	}
	var changed []string
	known := false
	for _, raw := range append([]json.RawMessage{json.RawMessage(built)}, mixed...) {
		var prev identity.Config
		if string(raw) == cur {
			known = true
			continue
		}
		if json.Unmarshal(raw, &prev) != nil {
			continue
		}
		for _, c := range changedIdentityRules(prev, cfg) {
			if !slices.Contains(changed, c) {
				changed = append(changed, c)
			}
		}
	}
	if len(changed) == 0 {
		return nil
	}
	st, err := l.Store.Stats(ctx)
	if err != nil || st.Events == 0 {
		// Nothing resolved yet.
		if err := l.Store.PutSetting(ctx, mosaic.SettingMixedIdentityRules, "[]"); err != nil {
			return err
		}
		return l.Store.PutSetting(ctx, mosaic.SettingGraphIdentityRules, cur)
	}
	if !known {
		// This process resolves events under rules the graph was not built under: a later
		// start under the graph's own rules must warn as well.
		raw, _ := json.Marshal(append(mixed, json.RawMessage(cur)))
		if err := l.Store.PutSetting(ctx, mosaic.SettingMixedIdentityRules, string(raw)); err != nil {
			return err
		}
	}
	l.Logger.Warn("stored events were resolved under other identity rules: they keep the identifiers and links those gave (a rule applies to the events processed after it) until they are replayed; run `mosaic identity replay` (or POST /api/v1/identity/replay)",
		"changed", strings.Join(changed, ", "), "stored_events", st.Events)
	return nil
}

// changedIdentityRules names what differs between two identity rule sets: each identifier
// type added, removed or with another rule, and the other settings that differ.
func changedIdentityRules(old, cur identity.Config) []string {
	rules := func(c identity.Config) map[mosaic.IdentifierType]string {
		m := map[mosaic.IdentifierType]string{}
		for _, r := range c.Rules {
			b, _ := json.Marshal(r)
			m[r.Type] = string(b)
		}
		return m
	}
	o, c := rules(old), rules(cur)
	var out []string
	for _, t := range slices.Sorted(maps.Keys(c)) {
		switch prev, ok := o[t]; {
		case !ok:
			out = append(out, string(t)+" (new)")
		case prev != c[t]:
			out = append(out, string(t))
		}
	}
	for _, t := range slices.Sorted(maps.Keys(o)) {
		if _, ok := c[t]; !ok {
			out = append(out, string(t)+" (removed)")
		}
	}
	if old.DefaultRegion != cur.DefaultRegion {
		out = append(out, "default_region")
	}
	if !slices.Equal(old.Blocklist, cur.Blocklist) {
		out = append(out, "blocklist")
	}
	if old.HubThreshold != cur.HubThreshold || old.MaxIdentifiers != cur.MaxIdentifiers || old.MaxMerges != cur.MaxMerges {
		out = append(out, "hub_threshold, max_identifiers or max_merges")
	}
	return out
}

// changedTraitRules names what differs between two rule sets: each trait whose rule differs
// (a trait without its own rule follows the default), "the default rule" when the default
// differs, and "the source_priority order" when the order of sources does.
func changedTraitRules(old, cur traits.Config) []string {
	eff := func(c traits.Config, name string) traits.Rule {
		if r, ok := c.Rules[name]; ok {
			return r
		}
		return cmp.Or(c.Default, traits.Latest)
	}
	names := maps.Clone(old.Rules)
	if names == nil {
		names = map[string]traits.Rule{}
	}
	maps.Copy(names, cur.Rules)
	var out []string
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if eff(old, name) != eff(cur, name) {
			out = append(out, name)
		}
	}
	if cmp.Or(old.Default, traits.Latest) != cmp.Or(cur.Default, traits.Latest) {
		out = append(out, "the default rule")
	}
	if !slices.Equal(old.SourcePriority, cur.SourcePriority) {
		out = append(out, "the source_priority order")
	}
	return out
}

// Notify wakes the processor if it runs.
func (l *leasedProcessor) Notify() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running {
		l.Proc.Notify()
	}
}

// Drain lets a running processor catch up (see processor.Processor.Drain).
func (l *leasedProcessor) Drain(ctx context.Context) error {
	l.mu.Lock()
	running := l.running
	l.mu.Unlock()
	if !running {
		return nil
	}
	return l.Proc.Drain(ctx)
}

// Close stops the processor and gives the lease back.
func (l *leasedProcessor) Close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.running {
		return nil
	}
	l.running = false
	err := l.Proc.Close()
	if l.release != nil {
		if rerr := l.release(); err == nil {
			err = rerr
		}
	}
	return err
}

// openImports starts the queue that runs uploaded imports (POST /api/v1/imports): their
// rows go through the server's inbox writer and wake its processor.
func (c *ServeCmd) openImports(env *Env, store mosaic.Store, kind string, committer *groupcommit.Committer, proc *leasedProcessor,
	norm *identity.Normalizer, cfg *FileConfig) (*importer.Queue, string, error) {
	dir := c.ImportDir
	if dir == "" {
		dir = filepath.Join(env.CLI.Data, "imports")
		if kind == "postgres" {
			dir = filepath.Join(os.TempDir(), "mosaic-imports")
		}
	}
	q := &importer.Queue{Logger: env.Logger.With("component", "imports"), Importer: &importer.Importer{
		Store: store, Append: committer.Append, Appended: proc.Notify, Logger: env.Logger.With("component", "imports"),
		Identity: &importer.Identity{Config: cfg.Identity, Normalizer: norm},
	}}
	return q, dir, q.Open()
}

// processorPathsSetting names the setting with the identifier paths the processing process's
// rules read (a JSON list).
const processorPathsSetting = "processor_identity_paths"

// identityPaths returns the event paths cfg's rules read identifiers from, as a JSON list.
func identityPaths(cfg identity.Config) string {
	var paths []string
	for _, r := range cfg.Rules {
		for _, p := range r.Paths {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	slices.Sort(paths)
	b, _ := json.Marshal(paths)
	return string(b)
}

// processorIdentityRules returns the identity rules of the process holding (or last
// holding) the processor lease, if it recorded them.
func processorIdentityRules(ctx context.Context, store mosaic.Store) (identity.Config, bool, error) {
	raw, ok, err := store.Setting(ctx, mosaic.SettingProcessorIdentityRules)
	if err != nil || !ok {
		return identity.Config{}, false, err
	}
	var cfg identity.Config
	if json.Unmarshal([]byte(raw), &cfg) != nil || cfg.Validate() != nil {
		return identity.Config{}, false, nil
	}
	return cfg, true, nil
}

// checkProcessorReads refuses to append rows whose identifiers the process that holds the
// processor lease (a server started with another --config) would not read: they would be
// stored but identify no one, and running the import again would find nothing to add.
// It is the check for a lease holder that recorded only the paths it reads, not its rules.
func checkProcessorReads(ctx context.Context, store mosaic.Store, m *bulk.Mapping) error {
	raw, ok, err := store.Setting(ctx, processorPathsSetting)
	if err != nil || !ok {
		return err
	}
	var paths []string
	if json.Unmarshal([]byte(raw), &paths) != nil {
		return nil
	}
	for _, f := range m.Identifiers {
		if !slices.Contains(paths, f.Path) {
			return fmt.Errorf("the server processing this store reads no identifier from %s (mapping line %d: %s): it runs with other identity rules than this command's --config. Start the import with the server's --config, or restart the server with this one", f.Path, f.Line, f.Setting)
		}
	}
	return nil
}
