package devices

import (
	"fmt"
	"time"

	"github.com/syncproxy/syncproxy/gen/db"
)

// Lag is how far a device is behind its contractor.
type Lag struct {
	// Versions is the contractor's version minus the version the device
	// last pulled up to (all of it when it never completed a pull).
	Versions int64
	// Seconds is how much older the device's view is than the
	// contractor's last change: from the serverTime of its last complete
	// pull (its first request when none) to the time of the contractor's
	// version. 0 when Versions is.
	Seconds int64
}

// LagOf reads a ledger row's lag against the contractor's clock.
func LagOf(d db.ListDevicesRow) Lag {
	pulled, since := int64(0), d.FirstSeen.Time
	if d.PulledVersion != nil {
		pulled = *d.PulledVersion
		if d.PulledVersionAt != nil {
			since = d.PulledVersionAt.Time
		}
	}
	lag := Lag{Versions: max(0, d.ContractorVersion-pulled)}
	if lag.Versions > 0 {
		lag.Seconds = int64(max(0, d.ContractorVersionAt.Time.Sub(since)) / time.Second)
	}
	return lag
}

// Span is d in its largest whole unit, for people reading a lag or an age:
// 40s, 12m, 3h (up to 2 days), 10d.
func Span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d/time.Second)))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}
