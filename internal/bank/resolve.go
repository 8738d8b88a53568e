package bank

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// What an entry may lack when it is resolved. Resolve returns them inside a
// *ResolveError, which says what the entry offers instead.
var (
	ErrNoVersion   = errors.New("no such version")
	ErrNoVariant   = errors.New("no such variant")
	ErrNoParameter = errors.New("no such parameter")
)

// ResolveError names what was asked of an entry and what it has.
type ResolveError struct {
	Entry string
	// Kind is ErrNoVersion, ErrNoVariant or ErrNoParameter.
	Kind error
	// Names are what was asked for and is missing; Known what the entry has.
	Names []string
	Known []string
}

func (e *ResolveError) Error() string {
	switch e.Kind {
	case ErrNoVersion:
		return fmt.Sprintf("entry %s has no version %q; versions: %s", e.Entry, e.Names[0], strings.Join(e.Known, ", "))
	case ErrNoVariant:
		return fmt.Sprintf("entry %s has no variant %q; variants: %s", e.Entry, e.Names[0], orNone(e.Known))
	default:
		return fmt.Sprintf("entry %s has no parameter %s; its parameters are: %s", e.Entry, strings.Join(e.Names, ", "), orNone(e.Known))
	}
}

// Unwrap makes errors.Is(err, ErrNoVersion) and its kin work.
func (e *ResolveError) Unwrap() error { return e.Kind }

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Resolved is an entry narrowed to what one instance runs: a version, a
// variant (the zero Variant is the plain entry) and parameter values.
type Resolved struct {
	Entry   *Entry
	Version Version
	Variant Variant
	// Params are the values set; Env adds the defaults of the others.
	Params map[string]string
}

// Resolve picks the version (empty: the default), the variant (empty: the
// plain entry) and checks that every parameter set is one the entry
// declares. Every instance, export and conformance run resolves through it.
func (e *Entry) Resolve(version, variant string, params map[string]string) (Resolved, error) {
	ver, ok := e.Version(version)
	if !ok {
		return Resolved{}, &ResolveError{Entry: e.ID, Kind: ErrNoVersion, Names: []string{version}, Known: e.VersionNames()}
	}
	v, ok := e.Variant(variant)
	if !ok {
		return Resolved{}, &ResolveError{Entry: e.ID, Kind: ErrNoVariant, Names: []string{variant}, Known: e.variantNames()}
	}
	var known, unknown []string
	for _, p := range e.Parameters {
		known = append(known, p.Name)
	}
	for k := range params {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return Resolved{}, &ResolveError{Entry: e.ID, Kind: ErrNoParameter, Names: unknown, Known: known}
	}
	return Resolved{Entry: e, Version: ver, Variant: v, Params: params}, nil
}

// ComposeFiles lists the compose files of the resolved version and variant,
// relative to the entry's directory.
func (r Resolved) ComposeFiles() []string { return r.Entry.ComposeFilesOf(r.Version, r.Variant) }

// Env is the parameters as compose environment, defaults included.
func (r Resolved) Env() []string { return r.Entry.ParamEnv(r.Params) }
