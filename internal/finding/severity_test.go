package finding

import (
	"encoding/json"
	"testing"
)

func TestSeverity(t *testing.T) {
	for s := Info; s <= Critical; s++ {
		got, err := ParseSeverity(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", s, got, err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Severity
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("JSON round trip of %s: %s -> %v, %v", s, b, back, err)
		}
	}
	if s, err := ParseSeverity("HIGH"); err != nil || s != High {
		t.Errorf("ParseSeverity(HIGH) = %v, %v", s, err)
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("ParseSeverity(severe) succeeded")
	}
	if Severity(0) >= Info {
		t.Error("the zero value (unset) must rank below info as a threshold")
	}
	levels := map[Severity]string{Info: "note", Low: "note", Medium: "warning", High: "error", Critical: "error"}
	for s, want := range levels {
		if got := s.SARIFLevel(); got != want {
			t.Errorf("%s.SARIFLevel() = %q, want %q", s, got, want)
		}
	}
}
