package dr

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// ErrCycle means the entries' requires form a cycle.
var ErrCycle = errors.New("entries require each other in a cycle")

// Group states as the plan sees them.
const (
	GroupVerified = "verified"
	GroupComplete = "complete"
	// GroupFailed is a complete group whose restore drill failed: used
	// only when nothing else is left.
	GroupFailed = "drill-failed"
)

// GroupInfo is one complete backup group of an instance.
type GroupInfo struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	State   string    `json:"state"` // verified or complete
	Version string    `json:"version"`
}

// ChooseGroup picks the newest verified group, or the newest complete one
// when none is verified, or the newest whose drill failed when nothing
// else is left. Groups are given oldest first; incomplete ones must not be
// passed.
func ChooseGroup(groups []GroupInfo) (GroupInfo, bool) {
	for _, state := range []string{GroupVerified, GroupComplete, GroupFailed} {
		for i := len(groups) - 1; i >= 0; i-- {
			if groups[i].State == state {
				return groups[i], true
			}
		}
	}
	return GroupInfo{}, false
}

// infraDomains are entry domains of shared infrastructure, recovered
// before the applications that use them.
var infraDomains = map[string]bool{"identity": true, "proxy": true, "infrastructure": true}

// Order returns the instance names in recovery order: an instance of an
// entry that another instance's entry requires comes before it; shared
// infrastructure comes first; otherwise by name. It also says why an
// instance comes early.
func Order(ins []Instance) ([]string, map[string]string, error) {
	byEntry := map[string][]string{}
	for _, in := range ins {
		byEntry[in.Record.Entry] = append(byEntry[in.Record.Entry], in.Record.Name)
	}
	after := map[string][]string{} // name -> names that must come after it
	indeg := map[string]int{}
	reason := map[string]string{}
	requiredBy := map[string][]string{}
	for _, in := range ins {
		indeg[in.Record.Name] += 0
		for _, req := range in.Requires {
			for _, dep := range byEntry[req] {
				if dep == in.Record.Name {
					continue
				}
				after[dep] = append(after[dep], in.Record.Name)
				indeg[in.Record.Name]++
				requiredBy[dep] = append(requiredBy[dep], in.Record.Name)
			}
		}
	}
	// An instance that others use as their shared server (deploy --use)
	// comes before them: their databases live in it.
	present := map[string]bool{}
	for _, in := range ins {
		present[in.Record.Name] = true
	}
	usedBy := map[string][]string{}
	for _, in := range ins {
		for _, srv := range in.Record.Uses {
			if !present[srv] || srv == in.Record.Name || slices.Contains(usedBy[srv], in.Record.Name) {
				continue
			}
			after[srv] = append(after[srv], in.Record.Name)
			indeg[in.Record.Name]++
			usedBy[srv] = append(usedBy[srv], in.Record.Name)
		}
	}
	rank := map[string]int{}
	for _, in := range ins {
		n := in.Record.Name
		rank[n] = 1
		if infraDomains[in.Domain] {
			rank[n] = 0
			reason[n] = "shared infrastructure (" + in.Domain + ")"
		}
		if ub := usedBy[n]; len(ub) > 0 {
			rank[n] = 0
			sort.Strings(ub)
			r := "shared server of " + strings.Join(ub, ", ")
			if reason[n] != "" {
				r = reason[n] + "; " + r
			}
			reason[n] = r
		}
		if rb := requiredBy[n]; len(rb) > 0 {
			rank[n] = 0
			sort.Strings(rb)
			r := "required by " + strings.Join(rb, ", ")
			if reason[n] != "" {
				r = reason[n] + "; " + r
			}
			reason[n] = r
		}
	}
	var ready, out []string
	for n, d := range indeg {
		if d == 0 {
			ready = append(ready, n)
		}
	}
	less := func(a, b string) bool {
		if rank[a] != rank[b] {
			return rank[a] < rank[b]
		}
		return a < b
	}
	for len(ready) > 0 {
		sort.Slice(ready, func(i, j int) bool { return less(ready[i], ready[j]) })
		n := ready[0]
		ready = ready[1:]
		out = append(out, n)
		for _, m := range after[n] {
			indeg[m]--
			if indeg[m] == 0 {
				ready = append(ready, m)
			}
		}
	}
	if len(out) != len(ins) {
		var left []string
		for n, d := range indeg {
			if d > 0 {
				left = append(left, n)
			}
		}
		sort.Strings(left)
		return nil, nil, fmt.Errorf("%w: %s; fix the entries' requires", ErrCycle, strings.Join(left, ", "))
	}
	return out, reason, nil
}

// Facts are what restore found out before planning: the chosen backup
// group of each instance and which images the engine has.
type Facts struct {
	// Groups maps an instance to its chosen group; absent means none.
	Groups map[string]GroupInfo
	// NewerUnverified maps an instance to a complete group newer than its
	// chosen verified one.
	NewerUnverified map[string]string
	// Images maps an image reference to whether the engine has it.
	Images map[string]bool
	// Prefix is put before every instance name (drills).
	Prefix string
	// Repository is where the groups come from.
	Repository string
	// Sources maps a build-locally entry to the user's file its images
	// are built from.
	Sources map[string]string
}

// Plan is what a restore will do, in order.
type Plan struct {
	Host       string         `json:"host"`
	Exported   time.Time      `json:"exported"`
	Repository string         `json:"repository"`
	Steps      []InstancePlan `json:"steps"`
	Warnings   []string       `json:"warnings,omitempty"`
}

// InstancePlan is the recovery of one instance.
type InstancePlan struct {
	Name    string `json:"name"`
	Target  string `json:"target"`
	Entry   string `json:"entry"`
	Version string `json:"version"`
	Variant string `json:"variant,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Group is the backup group restored; empty when the instance has no
	// data to restore.
	Group        string    `json:"group,omitempty"`
	GroupTime    time.Time `json:"groupTime,omitzero"`
	GroupState   string    `json:"groupState,omitempty"`
	GroupVersion string    `json:"groupVersion,omitempty"`
	// Upgrade is set when the group was taken at another version than the
	// recorded one: the instance is restored at the group's version and
	// then upgraded.
	Upgrade     bool     `json:"upgrade,omitempty"`
	DataVolumes []string `json:"dataVolumes,omitempty"`
	Build       []string `json:"build,omitempty"`
	Pull        []string `json:"pull,omitempty"`
	Present     []string `json:"present,omitempty"`
	Checks      []string `json:"checks,omitempty"`
	// Supply is what the user must provide for a build-locally entry,
	// and Source the file they gave for it.
	Supply string `json:"supply,omitempty"`
	Source string `json:"source,omitempty"`
	// Uses maps services to the shared servers the instance is deployed
	// on (deploy --use), named as restored (with the drill prefix).
	Uses map[string]string `json:"uses,omitempty"`
	// LeaveDown is set for instances that were down at export (not in
	// drills).
	LeaveDown bool `json:"leaveDown,omitempty"`
}

// ErrNoBackup means an instance with user data has no restorable group.
var ErrNoBackup = errors.New("no restorable backup group")

// ErrNeedsSource means a build-locally image is missing and no source file
// for it was given.
var ErrNeedsSource = errors.New("image must be built from your own source")

// MakePlan plans the recovery of a bundle's instances. It is pure.
func MakePlan(m Manifest, f Facts) (*Plan, error) {
	order, reasons, err := Order(m.Instances)
	if err != nil {
		return nil, err
	}
	p := &Plan{Host: m.Host, Exported: m.Created, Repository: f.Repository}
	if p.Repository == "" {
		p.Repository = m.Repository
	}
	have := map[string]bool{}
	for _, in := range m.Instances {
		have[in.Record.Entry] = true
	}
	var missing, sources []error
	for _, name := range order {
		var in Instance
		for _, x := range m.Instances {
			if x.Record.Name == name {
				in = x
			}
		}
		st := InstancePlan{Name: name, Target: f.Prefix + name, Entry: in.Record.Entry, Version: in.Record.Version,
			Variant: in.Record.Variant, Reason: reasons[name], DataVolumes: in.DataVolumes, Checks: in.Checks,
			LeaveDown: in.Record.State == "down" && f.Prefix == ""}
		if in.Distribution == "build-locally" {
			st.Supply = strings.TrimSpace(in.SupplySource)
			if st.Supply == "" {
				st.Supply = "the sources the entry names"
			}
		}
		for _, svc := range slices.Sorted(maps.Keys(in.Record.Uses)) {
			srv := in.Record.Uses[svc]
			if st.Uses == nil {
				st.Uses = map[string]string{}
			}
			st.Uses[svc] = srv
			if !slices.ContainsFunc(m.Instances, func(x Instance) bool { return x.Record.Name == srv }) {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s uses %s for %s, which the bundle does not hold: deploy or restore %s first", name, srv, svc, srv))
				continue
			}
			st.Uses[svc] = f.Prefix + srv
		}
		for _, req := range in.Requires {
			if !have[req] {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s requires an instance of %s, which the bundle does not hold: deploy one first", name, req))
			}
		}
		if g, ok := f.Groups[name]; ok {
			st.Group, st.GroupTime, st.GroupState, st.GroupVersion = g.ID, g.Time, g.State, g.Version
			st.Upgrade = g.Version != "" && g.Version != in.Record.Version
			if newer := f.NewerUnverified[name]; newer != "" {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s: the newer complete group %s is not verified; the verified group %s is restored", name, newer, g.ID))
			}
		} else if len(in.DataVolumes) > 0 {
			missing = append(missing, fmt.Errorf("%s (data volumes %s)", name, strings.Join(in.DataVolumes, ", ")))
		}
		seen := map[string]bool{}
		for _, img := range in.Images {
			ref := img.Ref
			if seen[ref] {
				continue
			}
			seen[ref] = true
			switch {
			case img.Build != nil && !f.Images[ref]:
				st.Build = append(st.Build, ref)
			case f.Images[ref]:
				st.Present = append(st.Present, ref)
			default:
				pull := ref
				if len(img.RepoDigests) > 0 && !strings.Contains(ref, "@") {
					pull += " = " + img.RepoDigests[0]
				}
				st.Pull = append(st.Pull, pull)
			}
		}
		if st.Supply != "" && len(st.Build) > 0 {
			st.Source = f.Sources[st.Entry]
			if st.Source == "" {
				sources = append(sources, fmt.Errorf("%s (entry %s needs %s)", name, st.Entry, st.Supply))
			}
		}
		p.Steps = append(p.Steps, st)
	}
	if len(sources) > 0 {
		return p, fmt.Errorf("%w for: %w; pass --source ENTRY=FILE for each; nothing was changed", ErrNeedsSource, errors.Join(sources...))
	}
	if len(missing) > 0 {
		return p, fmt.Errorf("%w in %s for: %w; back them up (`dockerbank backup NAME`) or point --repository at the repository that holds them; nothing was changed",
			ErrNoBackup, p.Repository, errors.Join(missing...))
	}
	return p, nil
}

// Render prints the plan as text.
func (p *Plan) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Recovery plan for %d instance(s) of host %s (bundle exported %s)\n", len(p.Steps), p.Host, p.Exported.UTC().Format("2006-01-02 15:04Z"))
	fmt.Fprintf(&b, "Backup repository: %s\n", p.Repository)
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "\n%d. %s", i+1, s.Target)
		if s.Target != s.Name {
			fmt.Fprintf(&b, " (from %s)", s.Name)
		}
		fmt.Fprintf(&b, ": %s %s", s.Entry, s.Version)
		if s.Variant != "" {
			fmt.Fprintf(&b, " variant %s", s.Variant)
		}
		b.WriteString("\n")
		if s.Reason != "" {
			fmt.Fprintf(&b, "   first because: %s\n", s.Reason)
		}
		for _, r := range s.Build {
			fmt.Fprintf(&b, "   build image %s from the entry copy in the bundle\n", r)
		}
		if s.Supply != "" && len(s.Build) > 0 {
			src := s.Source
			if src == "" {
				src = "NOT GIVEN (--source " + s.Entry + "=FILE)"
			}
			fmt.Fprintf(&b, "   the build needs what the entry may not ship: %s; from %s\n", s.Supply, src)
		}
		for _, r := range s.Pull {
			fmt.Fprintf(&b, "   pull image %s (not on this engine)\n", r)
		}
		for _, r := range s.Present {
			fmt.Fprintf(&b, "   use image %s (on this engine)\n", r)
		}
		deployAt := s.Version
		if s.Upgrade {
			deployAt = s.GroupVersion
		}
		fmt.Fprintf(&b, "   deploy %s %s with its recorded parameters and secrets\n", s.Entry, deployAt)
		for _, svc := range slices.Sorted(maps.Keys(s.Uses)) {
			fmt.Fprintf(&b, "   its %s is its own database in the shared server %s (deploy --use %s=%s)\n", svc, s.Uses[svc], svc, s.Uses[svc])
		}
		if s.Group != "" {
			fmt.Fprintf(&b, "   restore backup group %s of %s (%s) into %s\n", s.Group, s.GroupTime.UTC().Format("2006-01-02 15:04Z"), s.GroupState, strings.Join(s.DataVolumes, ", "))
			b.WriteString("   compare every table and file with the group's manifest\n")
		} else {
			b.WriteString("   no user data to restore\n")
		}
		if s.Upgrade {
			fmt.Fprintf(&b, "   upgrade from %s (the group's version) to the recorded version %s\n", s.GroupVersion, s.Version)
		}
		if len(s.Checks) > 0 {
			fmt.Fprintf(&b, "   run checks: %s\n", strings.Join(s.Checks, ", "))
		}
		if s.LeaveDown {
			b.WriteString("   leave it down afterwards (it was down at export)\n")
		}
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "\nwarning: %s\n", w)
	}
	return b.String()
}
