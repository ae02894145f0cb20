package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mosaic-cdp/mosaic"
)

// SourceCmd groups the source subcommands.
type SourceCmd struct {
	Create    SourceCreateCmd    `cmd:"" help:"Create a source; prints its write key as the last line."`
	List      SourceListCmd      `cmd:"" help:"List sources."`
	Rename    SourceRenameCmd    `cmd:"" help:"Rename a source."`
	RotateKey SourceRotateKeyCmd `cmd:"" name:"rotate-key" help:"Give a source a new write key; the old one stops working."`
	Disable   SourceDisableCmd   `cmd:"" help:"Disable a source: its calls are refused with 403."`
	Enable    SourceEnableCmd    `cmd:"" help:"Enable a disabled source."`
}

// SourceCreateCmd creates a source.
type SourceCreateCmd struct {
	Name           string   `arg:"" help:"Source name, e.g. web or crm."`
	AllowedOrigins []string `help:"Browser origins allowed to send (default: any)." name:"allowed-origin"`
}

// Run implements the command.
func (c *SourceCreateCmd) Run(env *Env) error {
	store, _, err := env.OpenStore()
	if err != nil {
		return err
	}
	defer store.Close()
	src := &mosaic.Source{Name: c.Name, AllowedOrigins: c.AllowedOrigins}
	if err := store.CreateSource(env.Ctx, src); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "created source %q (%s); write key:\n%s\n", src.Name, src.ID, src.WriteKey)
	return nil
}

// SourceListCmd lists sources.
type SourceListCmd struct{}

// Run implements the command.
func (c *SourceListCmd) Run(env *Env) error {
	store, _, err := env.OpenStore()
	if err != nil {
		return err
	}
	defer store.Close()
	srcs, err := store.FindSources(env.Ctx, mosaic.SourceFilter{})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tEVENTS\tWRITE KEY\tALLOWED ORIGINS")
	for _, s := range srcs {
		status := "enabled"
		if s.Disabled {
			status = "disabled"
		}
		origins := "any"
		if len(s.AllowedOrigins) > 0 {
			origins = strings.Join(s.AllowedOrigins, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.Name, status, s.Events, s.WriteKey, origins)
	}
	return tw.Flush()
}

// findSource resolves a source by id or by name.
func findSource(env *Env, store mosaic.Store, ref string) (*mosaic.Source, error) {
	if src, err := store.FindSourceByID(env.Ctx, mosaic.SourceID(ref)); err == nil {
		return src, nil
	} else if mosaic.ErrorCode(err) != mosaic.ENOTFOUND {
		return nil, err
	}
	srcs, err := store.FindSources(env.Ctx, mosaic.SourceFilter{Name: &ref})
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, mosaic.Errorf(mosaic.ENOTFOUND, "No source with id or name %q.", ref)
	}
	return srcs[0], nil
}

// updateSource applies upd to the source named by ref and prints the result.
func updateSource(env *Env, ref string, upd mosaic.SourceUpdate, verb string) error {
	store, _, err := env.OpenStore()
	if err != nil {
		return err
	}
	defer store.Close()
	src, err := findSource(env, store, ref)
	if err != nil {
		return err
	}
	if src, err = store.UpdateSource(env.Ctx, src.ID, upd); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s source %q (%s)\n", verb, src.Name, src.ID)
	return nil
}

// SourceRenameCmd renames a source.
type SourceRenameCmd struct {
	Source string `arg:"" help:"Source id or name."`
	Name   string `arg:"" help:"New name."`
}

// Run implements the command.
func (c *SourceRenameCmd) Run(env *Env) error {
	return updateSource(env, c.Source, mosaic.SourceUpdate{Name: &c.Name}, "renamed")
}

// SourceDisableCmd disables a source.
type SourceDisableCmd struct {
	Source string `arg:"" help:"Source id or name."`
}

// Run implements the command.
func (c *SourceDisableCmd) Run(env *Env) error {
	t := true
	return updateSource(env, c.Source, mosaic.SourceUpdate{Disabled: &t}, "disabled")
}

// SourceEnableCmd enables a source.
type SourceEnableCmd struct {
	Source string `arg:"" help:"Source id or name."`
}

// Run implements the command.
func (c *SourceEnableCmd) Run(env *Env) error {
	f := false
	return updateSource(env, c.Source, mosaic.SourceUpdate{Disabled: &f}, "enabled")
}

// SourceRotateKeyCmd rotates a source's write key.
type SourceRotateKeyCmd struct {
	Source string `arg:"" help:"Source id or name."`
}

// Run implements the command.
func (c *SourceRotateKeyCmd) Run(env *Env) error {
	store, _, err := env.OpenStore()
	if err != nil {
		return err
	}
	defer store.Close()
	src, err := findSource(env, store, c.Source)
	if err != nil {
		return err
	}
	if src, err = store.RotateWriteKey(env.Ctx, src.ID); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "new write key for source %q (%s); the old key no longer works:\n%s\n", src.Name, src.ID, src.WriteKey)
	return nil
}

// TokenCmd groups the token subcommands.
type TokenCmd struct {
	Create TokenCreateCmd `cmd:"" help:"Create an API token; prints it as the last line (shown once)."`
	List   TokenListCmd   `cmd:"" help:"List the API tokens (ids, roles, names; never the secrets)."`
	Revoke TokenRevokeCmd `cmd:"" help:"Revoke an API token: it stops working at once."`
}

// TokenListCmd lists the API tokens.
type TokenListCmd struct{}

// Run implements the command.
func (c *TokenListCmd) Run(env *Env) error {
	store, _, err := env.OpenStore()
	if err != nil {
		return err
	}
	defer store.Close()
	toks, err := store.FindTokens(env.Ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tNAME\tCREATED")
	for _, t := range toks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Role, t.Name, t.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// TokenRevokeCmd revokes an API token.
type TokenRevokeCmd struct {
	ID string `arg:"" help:"Token id (mosaic token list)."`
}

// Run implements the command.
func (c *TokenRevokeCmd) Run(env *Env) error {
	store, _, err := env.OpenStore()
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.RevokeToken(env.Ctx, c.ID); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "revoked token %s; it no longer works\n", c.ID)
	return nil
}

// TokenCreateCmd creates an API token.
type TokenCreateCmd struct {
	Role string `help:"Role: owner, steward, analyst, marketer, support, read-only." default:"read-only"`
	Name string `help:"What the token is for." default:""`
}

// Run implements the command.
func (c *TokenCreateCmd) Run(env *Env) error {
	store, _, err := env.OpenStore()
	if err != nil {
		return err
	}
	defer store.Close()
	tok := &mosaic.Token{Name: c.Name, Role: mosaic.Role(c.Role)}
	secret, err := store.CreateToken(env.Ctx, tok)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "created %s token %s (revoke it with: mosaic token revoke %s); the token, shown once:\n%s\n", c.Role, tok.ID, tok.ID, secret)
	return nil
}
