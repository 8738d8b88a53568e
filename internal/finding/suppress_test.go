package finding

import (
	"testing"
	"time"
)

func TestExpired(t *testing.T) {
	e, err := ParseExpiry("2027-01-31")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), false},
		{time.Date(2027, 1, 31, 23, 59, 59, 0, time.UTC), false},
		{time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), true},
		{time.Date(2027, 2, 1, 1, 0, 0, 0, time.UTC), true},
	} {
		if got := Expired(e, tc.now); got != tc.want {
			t.Errorf("Expired(2027-01-31, %s) = %v, want %v", tc.now, got, tc.want)
		}
	}
	if Expired(time.Time{}, time.Now()) {
		t.Error("a suppression without expiry expired")
	}
	if _, err := ParseExpiry("next week"); err == nil {
		t.Error("ParseExpiry(next week) succeeded")
	}
}
