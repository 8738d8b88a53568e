package fingerprint

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
)

// Format is the version of Fingerprint.
const Format = "dockerbank.fingerprint/v1"

// ErrMismatch means data differs from its fingerprint.
var ErrMismatch = errors.New("data differs from its fingerprint")

// ErrDamaged means the application reports data it holds as damaged (a
// stored file no longer matches the digest the application recorded).
var ErrDamaged = errors.New("the application reports damaged data")

// Fingerprint is the data of an instance as its application sees it, at
// one point in time.
type Fingerprint struct {
	Format string    `json:"format"`
	Taken  time.Time `json:"taken"`
	// Specs are the declarations it was computed from: a later
	// computation uses the same ones, whatever the entry says by then.
	Specs []bank.FingerprintSpec `json:"specs"`
	Parts []Part                 `json:"parts"`
}

// Part is the fingerprint of one declaration.
type Part struct {
	Name  string `json:"name"` // bank.FingerprintSpec.Name
	Kind  string `json:"kind"`
	Items []Item `json:"items"`
	// Info holds counts the application reports (Orthanc's /statistics),
	// shown, not compared.
	Info map[string]int64 `json:"info,omitempty"`
}

// Item is one table, file or application object.
type Item struct {
	ID     string `json:"id"`
	Digest string `json:"digest"`
	Rows   int64  `json:"rows,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// Upto is the largest key of a keyed table at the capture: Rows and
	// Digest cover the rows up to it.
	Upto string `json:"upto,omitempty"`
	// Later counts what was added after the capture (rows past Upto,
	// bytes appended to a file); only set when computed against a
	// reference.
	Later int64 `json:"later,omitempty"`
	// Damage is what the application reports wrong with the object when
	// the fingerprint was taken (Orthanc: the stored file does not match
	// the MD5 it recorded); "" when it is sound.
	Damage string `json:"damage,omitempty"`
}

// Part returns the part of that name.
func (f *Fingerprint) Part(name string) (*Part, bool) {
	for i := range f.Parts {
		if f.Parts[i].Name == name {
			return &f.Parts[i], true
		}
	}
	return nil, false
}

// Items counts the items of every part.
func (f *Fingerprint) Items() int {
	n := 0
	for _, p := range f.Parts {
		n += len(p.Items)
	}
	return n
}

// Damaged lists the items the application reported as damaged.
func (f *Fingerprint) Damaged() []Diff {
	if f == nil {
		return nil
	}
	var out []Diff
	for _, p := range f.Parts {
		for _, it := range p.Items {
			if it.Damage != "" {
				out = append(out, Diff{Part: p.Name, Item: noun(p.Kind, 1) + " " + it.ID, What: it.Damage})
			}
		}
	}
	return out
}

// Summary is one line: how many items per part.
func (f *Fingerprint) Summary() string {
	if f == nil {
		return "no fingerprint"
	}
	var parts []string
	for _, p := range f.Parts {
		parts = append(parts, fmt.Sprintf("%s: %d %s", p.Name, len(p.Items), noun(p.Kind, len(p.Items))))
	}
	return strings.Join(parts, "; ")
}

func noun(kind string, n int) string {
	s := map[string]string{bank.FingerprintPostgres: "table", bank.FingerprintMariaDB: "table",
		bank.FingerprintFiles: "file", bank.FingerprintOrthanc: "instance"}[kind]
	if s == "" {
		s = "item"
	}
	if n != 1 {
		s += "s"
	}
	return s
}

// Diff is one difference between a fingerprint and its reference.
type Diff struct {
	Part string `json:"part"`
	Item string `json:"item,omitempty"`
	What string `json:"what"`
}

func (d Diff) String() string {
	if d.Item == "" {
		return d.Part + ": " + d.What
	}
	return d.Part + ": " + d.Item + ": " + d.What
}

// Result is the outcome of a comparison.
type Result struct {
	Parts int    `json:"parts"`
	Items int    `json:"items"`
	Diffs []Diff `json:"diffs,omitempty"`
	// Added counts items, rows past a keyed table's capture and grown
	// append-only files that appeared after the capture: no difference.
	Added int64 `json:"added"`
	// Damaged lists the items that were damaged already in the reference
	// and are there as they were: faithfully reproduced, so no
	// difference, but data the application cannot serve intact.
	Damaged []Diff `json:"damaged,omitempty"`
}

// OK reports whether nothing differs.
func (r Result) OK() bool { return len(r.Diffs) == 0 }

// Compare checks that everything the reference (want) holds is in got,
// unchanged: no part, table, file or instance missing, none with other
// rows, size or digest, none damaged that was sound. An item damaged in
// the reference and damaged alike in got is in Damaged, not Diffs: a
// restore reproduced it faithfully (callers decide whether that fails
// them: drills do, restores warn). What got holds beyond it (new instances, files,
// rows past a keyed table's capture) is counted in Added, not a
// difference: the application keeps running after a restore or an
// upgrade, and the reference is the data at the capture.
func Compare(want, got *Fingerprint) Result {
	var r Result
	for _, wp := range want.Parts {
		r.Parts++
		gp, ok := got.Part(wp.Name)
		if !ok {
			r.Diffs = append(r.Diffs, Diff{Part: wp.Name, What: "not computed"})
			continue
		}
		have := make(map[string]Item, len(gp.Items))
		for _, it := range gp.Items {
			have[it.ID] = it
		}
		unit := noun(wp.Kind, 1)
		for _, w := range wp.Items {
			r.Items++
			g, ok := have[w.ID]
			delete(have, w.ID)
			switch {
			case !ok:
				r.Diffs = append(r.Diffs, Diff{Part: wp.Name, Item: unit + " " + w.ID, What: "missing (at the capture: " + describe(wp.Kind, w) + ")"})
			case g.Rows != w.Rows || g.Size != w.Size || g.Digest != w.Digest:
				r.Diffs = append(r.Diffs, Diff{Part: wp.Name, Item: unit + " " + w.ID, What: "now " + describe(wp.Kind, g) + "; at the capture " + describe(wp.Kind, w)})
			case g.Damage != "" && w.Damage == "":
				r.Diffs = append(r.Diffs, Diff{Part: wp.Name, Item: unit + " " + w.ID, What: "damaged now (" + g.Damage + "); sound at the capture"})
			case w.Damage != "":
				r.Damaged = append(r.Damaged, Diff{Part: wp.Name, Item: unit + " " + w.ID, What: "damaged already at the capture: " + w.Damage})
			case g.Later > 0 && wp.Kind == bank.FingerprintFiles:
				r.Added++ // an append-only file that grew
			default:
				r.Added += g.Later
			}
		}
		r.Added += int64(len(have))
	}
	return r
}

func describe(kind string, it Item) string {
	switch kind {
	case bank.FingerprintPostgres, bank.FingerprintMariaDB:
		s := fmt.Sprintf("%d rows, checksum %s", it.Rows, it.Digest)
		if it.Upto != "" {
			s += " (rows up to key " + it.Upto + ")"
		}
		return s
	case bank.FingerprintFiles:
		return fmt.Sprintf("%d bytes, %s", it.Size, it.Digest)
	}
	return it.Digest
}

// MismatchError is a comparison that found differences, for one instance.
type MismatchError struct {
	Instance string
	// Against names the reference, e.g. "backup group X".
	Against string
	Result  Result
}

func (e *MismatchError) Error() string {
	diffs := e.Result.Diffs
	lines := make([]string, 0, len(diffs))
	for i, d := range diffs {
		if i == 20 {
			lines = append(lines, fmt.Sprintf("... and %d more", len(diffs)-20))
			break
		}
		lines = append(lines, d.String())
	}
	return fmt.Sprintf("fingerprint of instance %s differs from %s (%d of %d items):\n  %s",
		e.Instance, e.Against, len(diffs), e.Result.Items, strings.Join(lines, "\n  "))
}

// Is makes errors.Is(err, ErrMismatch) true.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// DamageError lists the items of an instance's data that the application
// reported as damaged.
type DamageError struct {
	Instance string
	// Where says which data, e.g. "its data at the capture of backup
	// group X".
	Where   string
	Damaged []Diff
	// Advice is the next thing to do, appended to the message.
	Advice string
}

func (e *DamageError) Error() string {
	lines := make([]string, 0, len(e.Damaged))
	for i, d := range e.Damaged {
		if i == 20 {
			lines = append(lines, fmt.Sprintf("... and %d more", len(e.Damaged)-20))
			break
		}
		lines = append(lines, d.String())
	}
	items := "items"
	if len(e.Damaged) == 1 {
		items = "item"
	}
	msg := fmt.Sprintf("instance %s: the application reports %d damaged %s in %s:\n  %s",
		e.Instance, len(e.Damaged), items, e.Where, strings.Join(lines, "\n  "))
	if e.Advice != "" {
		msg += "\n" + e.Advice
	}
	return msg
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

// Check compares and returns a *MismatchError when anything differs.
func Check(instance, against string, want, got *Fingerprint) (Result, error) {
	r := Compare(want, got)
	if !r.OK() {
		return r, &MismatchError{Instance: instance, Against: against, Result: r}
	}
	return r, nil
}

// SortItems orders items by ID, as parts hold them.
func SortItems(items []Item) {
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
}
