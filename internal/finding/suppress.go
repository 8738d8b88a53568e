package finding

import "time"

// A suppression accepts the findings of one rule (each tool adds where:
// lint a service and compose file, audit a path in the image) for a
// mandatory reason, optionally until an expiry date. Both tools keep
// their own file format (their match keys and the messages their users
// know differ); what a suppression means is decided here, once.

// ParseExpiry reads a suppression's expiry date, like 2027-01-31.
func ParseExpiry(date string) (time.Time, error) {
	return time.Parse(time.DateOnly, date)
}

// Expired reports whether a suppression with the expiry date expires (zero:
// none) no longer applies at now: it is valid through its expiry day, UTC,
// and expired from the next midnight on.
func Expired(expires, now time.Time) bool {
	return !expires.IsZero() && !now.Before(expires.Add(24*time.Hour))
}
