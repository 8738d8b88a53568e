package schedule

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical form; "" means an error
	}{
		{"daily", "daily 02:00"},
		{"daily 23:30", "daily 23:30"},
		{"Daily 7:05", "daily 07:05"},
		{"weekly", "weekly sun 03:00"},
		{"weekly mon", "weekly mon 03:00"},
		{"weekly friday 22:15", "weekly fri 22:15"},
		{"weekly 04:00", "weekly sun 04:00"},
		{"every 6h", "every 6h0m0s"},
		{"every 90m", "every 1h30m0s"},
		{"off", "off"},
		{"never", "off"},
		{"", ""},
		{"daily 24:00", ""},
		{"daily 2", ""},
		{"daily 02:00 extra", ""},
		{"weekly funday", ""},
		{"every 10s", ""},
		{"every", ""},
		{"every six hours", ""},
		{"hourly", ""},
		{"off now", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := Parse(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want an error", tt.in, s)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("Parse(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNext(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	daily := must(t, "daily 02:00")
	weekly := must(t, "weekly sun 03:00") // 2026-11-29 is a Sunday
	every := must(t, "every 6h")
	tests := []struct {
		name string
		spec Spec
		run  Run
		now  string
		next string
		due  bool
	}{
		{"new instance waits for its first slot", daily, Run{Since: at("2026-11-26 10:00")}, "2026-11-26 12:00", "2026-11-27 02:00", false},
		{"new instance is due at its first slot", daily, Run{Since: at("2026-11-26 10:00")}, "2026-11-27 02:00", "2026-11-27 02:00", true},
		{"ran after today's slot", daily, Run{Last: at("2026-11-26 02:01")}, "2026-11-26 23:00", "2026-11-27 02:00", false},
		{"missed slot", daily, Run{Last: at("2026-11-25 02:01")}, "2026-11-26 09:00", "2026-11-26 02:00", true},
		{"three days down: one catch-up", daily, Run{Last: at("2026-11-22 02:01")}, "2026-11-26 09:00", "2026-11-23 02:00", true},
		{"after the catch-up run: next slot", daily, Run{Last: at("2026-11-26 09:01")}, "2026-11-26 09:02", "2026-11-27 02:00", false},
		{"failed attempt waits an hour", daily, Run{Last: at("2026-11-25 02:01"), Failed: at("2026-11-26 02:00")}, "2026-11-26 02:30", "2026-11-26 03:00", false},
		{"retry after an hour", daily, Run{Last: at("2026-11-25 02:01"), Failed: at("2026-11-26 02:00")}, "2026-11-26 03:00", "2026-11-26 03:00", true},
		{"old failure before the last run is ignored", daily, Run{Last: at("2026-11-26 02:05"), Failed: at("2026-11-26 02:00")}, "2026-11-27 02:00", "2026-11-27 02:00", true},
		{"weekly before sunday", weekly, Run{Last: at("2026-11-22 03:10")}, "2026-11-28 12:00", "2026-11-29 03:00", false},
		{"weekly on sunday", weekly, Run{Last: at("2026-11-22 03:10")}, "2026-11-29 03:00", "2026-11-29 03:00", true},
		{"weekly missed by weeks", weekly, Run{Last: at("2026-11-01 03:10")}, "2026-11-26 12:00", "2026-11-08 03:00", true},
		{"weekly never run, created on a sunday before the slot", weekly, Run{Since: at("2026-11-29 01:00")}, "2026-11-29 02:00", "2026-11-29 03:00", false},
		{"every from last run", every, Run{Last: at("2026-11-26 08:00")}, "2026-11-26 13:00", "2026-11-26 14:00", false},
		{"every overdue", every, Run{Last: at("2026-11-26 08:00")}, "2026-11-26 20:00", "2026-11-26 14:00", true},
		{"every never run", every, Run{Since: at("2026-11-26 08:00")}, "2026-11-26 14:00", "2026-11-26 14:00", true},
		{"every short retries at its interval", must(t, "every 5m"), Run{Last: at("2026-11-26 08:00"), Failed: at("2026-11-26 08:05")}, "2026-11-26 08:09", "2026-11-26 08:10", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := tt.spec.Next(tt.run)
			if !next.Equal(at(tt.next)) {
				t.Errorf("Next = %s, want %s", next.In(loc).Format("2006-01-02 15:04"), tt.next)
			}
			if due := !next.After(at(tt.now)); due != tt.due {
				t.Errorf("due at %s = %v, want %v", tt.now, due, tt.due)
			}
		})
	}
	if n := (Spec{Kind: Off}).Next(Run{Last: at("2026-11-26 08:00")}); !n.IsZero() {
		t.Errorf("off: Next = %v, want zero (never)", n)
	}
}

func TestNextAcrossDST(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	// 2026-10-25: clocks go back at 03:00. The 02:00 slot stays 02:00 local.
	last := time.Date(2026, 10, 24, 2, 5, 0, 0, loc)
	next := must(t, "daily 02:00").Next(Run{Last: last})
	if h, m := next.Hour(), next.Minute(); h != 2 || m != 0 || next.Day() != 25 {
		t.Errorf("Next = %s, want 2026-10-25 02:00 local", next)
	}
}

func TestResolve(t *testing.T) {
	entry := &Policy{Backup: "daily 02:00", Drill: "weekly", Keep: &Keep{Daily: 7}}
	siteDefault := &Policy{Backup: "daily 01:00"}
	inst := &Policy{Drill: "off"}
	r, err := Resolve(Layer{"entry", entry}, Layer{"site default", siteDefault}, Layer{"site instance", inst})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{r.Backup.String(), r.BackupFrom, r.Drill.String(), r.DrillFrom, r.KeepFrom, r.Source()}
	want := []string{"daily 01:00", "site default", "off", "site instance", "entry", "site default+site instance+entry"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Resolve (-want +got):\n%s", d)
	}
	none, _ := Resolve(Layer{"entry", nil})
	if none.Backup.Kind != Off || none.Source() != "none" {
		t.Errorf("no policy: got %v from %q, want off from none", none.Backup, none.Source())
	}
	if _, err := Resolve(Layer{"site instance", &Policy{Backup: "hourly"}}); err == nil {
		t.Error("Resolve accepted backup: hourly")
	}
}

func TestValidate(t *testing.T) {
	p := Policy{Backup: "daily 25:00", Drill: "weekly", Keep: &Keep{Daily: -1}}
	var fields []string
	for _, pr := range p.Validate() {
		fields = append(fields, pr.Field)
	}
	if d := cmp.Diff([]string{"backup", "keep.daily"}, fields); d != "" {
		t.Errorf("Validate fields (-want +got):\n%s", d)
	}
}

func must(t *testing.T, s string) Spec {
	t.Helper()
	sp, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestValidateEmptyKeep(t *testing.T) {
	ps := Policy{Keep: &Keep{}}.Validate()
	if len(ps) != 1 || ps[0].Field != "keep" {
		t.Errorf("Validate(keep: {}) = %v, want one problem at keep", ps)
	}
}
