package schedule

import (
	"fmt"
	"strings"
)

// Policy is the protect policy of an instance, as written in entry.yaml
// (the entry's default) and site.yaml (a site default and per instance):
//
//	protect:
//	  backup: daily 02:00
//	  drill: weekly sun 03:00
//	  keep: {daily: 7, weekly: 4, monthly: 6}
//
// An empty field inherits from the layer below.
type Policy struct {
	Backup string `yaml:"backup,omitempty" json:"backup,omitempty"`
	Drill  string `yaml:"drill,omitempty" json:"drill,omitempty"`
	Keep   *Keep  `yaml:"keep,omitempty" json:"keep,omitempty"`
}

// Keep is a retention policy applied after each scheduled backup: the
// newest group of each of the last Daily days, Weekly weeks and Monthly
// months (see the backup job's retention).
type Keep struct {
	Daily   int `yaml:"daily,omitempty" json:"daily,omitempty"`
	Weekly  int `yaml:"weekly,omitempty" json:"weekly,omitempty"`
	Monthly int `yaml:"monthly,omitempty" json:"monthly,omitempty"`
}

// Problem is one invalid field of a policy; Field is its key below
// protect (backup, drill, keep.daily...).
type Problem struct {
	Field   string
	Message string
}

// Validate returns every problem of the policy.
func (p Policy) Validate() []Problem {
	var ps []Problem
	for _, f := range []struct{ name, v string }{{"backup", p.Backup}, {"drill", p.Drill}} {
		if f.v == "" {
			continue
		}
		if _, err := Parse(f.v); err != nil {
			ps = append(ps, Problem{Field: f.name, Message: err.Error()})
		}
	}
	if k := p.Keep; k != nil {
		for _, f := range []struct {
			name string
			n    int
		}{{"daily", k.Daily}, {"weekly", k.Weekly}, {"monthly", k.Monthly}} {
			if f.n < 0 {
				ps = append(ps, Problem{Field: "keep." + f.name, Message: fmt.Sprintf("keep.%s is %d; write a count of 0 or more", f.name, f.n)})
			}
		}
		if k.Daily+k.Weekly+k.Monthly == 0 {
			ps = append(ps, Problem{Field: "keep", Message: "keep holds no count; set daily, weekly and/or monthly, or remove keep"})
		}
	}
	return ps
}

// Layer is one named source of a policy.
type Layer struct {
	Name   string // entry, site default, site instance
	Policy *Policy
}

// Resolved is the effective policy of an instance.
type Resolved struct {
	Backup, Drill Spec
	Keep          *Keep
	// From names the layer each field came from ("" when none set it).
	BackupFrom, DrillFrom, KeepFrom string
}

// Source summarises where the policy came from, e.g. "entry" or
// "entry+site instance".
func (r Resolved) Source() string {
	var names []string
	for _, n := range []string{r.BackupFrom, r.DrillFrom, r.KeepFrom} {
		if n != "" && !contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "+")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Resolve merges layers, lowest first (entry, site default, site
// instance): a field set in a later layer wins. A field no layer sets is
// off. The first invalid schedule is an error naming its layer.
func Resolve(layers ...Layer) (Resolved, error) {
	r := Resolved{Backup: Spec{Kind: Off}, Drill: Spec{Kind: Off}}
	for _, l := range layers {
		if l.Policy == nil {
			continue
		}
		if l.Policy.Backup != "" {
			s, err := Parse(l.Policy.Backup)
			if err != nil {
				return r, fmt.Errorf("%s protect.backup: %w", l.Name, err)
			}
			r.Backup, r.BackupFrom = s, l.Name
		}
		if l.Policy.Drill != "" {
			s, err := Parse(l.Policy.Drill)
			if err != nil {
				return r, fmt.Errorf("%s protect.drill: %w", l.Name, err)
			}
			r.Drill, r.DrillFrom = s, l.Name
		}
		if l.Policy.Keep != nil {
			k := *l.Policy.Keep
			r.Keep, r.KeepFrom = &k, l.Name
		}
	}
	return r, nil
}
