package opspage

import (
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/tenant"
)

// keep is how many recent errors and background events the page remembers:
// enough to see what is going on now, a few KB, nothing to configure.
const keep = 500

// Activity is what the ops page shows that no table holds: this
// instance's recent error responses and its background work (purges). It
// is in memory, per instance, and lost on restart: the page is a view of
// now, metrics and logs are the history. Safe for concurrent use; a nil
// *Activity records nothing.
type Activity struct {
	mu     sync.Mutex
	errors []ErrorEvent // ring, oldest first once full
	next   int
	events []Event
	nextEv int
}

// ErrorEvent is one error response.
type ErrorEvent struct {
	At         time.Time
	Route      string
	Status     int
	Code       string
	Contractor uuid.UUID // uuid.Nil before the tenant was known (401, 403, a user's 429)
	User       uuid.UUID // the auth user of a user's 429, whose contractor the page looks up
}

// Event is one run of background work worth showing (a purge that deleted
// something or failed).
type Event struct {
	At     time.Time
	Kind   string // "tombstone purge", "idempotency key purge"
	Detail string
	Failed bool
}

// NewActivity returns an empty Activity.
func NewActivity() *Activity { return &Activity{} }

// Middleware records every error response (status >= 400) of the sync API
// with its contract code and, once known, its contractor.
func (a *Activity) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if a == nil {
			return next
		}
		return func(c echo.Context) error {
			err := next(c)
			status := c.Response().Status
			if err != nil {
				status = apierror.Classify(err).Status
			}
			if status < http.StatusBadRequest {
				return err
			}
			ev := ErrorEvent{At: time.Now(), Route: routeOf(c), Status: status, Code: string(apierror.New(status, "").Code)}
			if id, ok := tenant.FromContext(c.Request().Context()); ok {
				ev.Contractor = id.ContractorID
			} else if u, ok := tenant.UserFromContext(c.Request().Context()); ok {
				ev.User = u
			}
			a.addError(ev)
			return err
		}
	}
}

// routeOf is the matched route pattern, never the raw path (any text a
// client likes).
func routeOf(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return "(no route)"
}

func (a *Activity) addError(ev ErrorEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.errors) < keep {
		a.errors = append(a.errors, ev)
		return
	}
	a.errors[a.next] = ev
	a.next = (a.next + 1) % keep
}

// Note records a background event.
func (a *Activity) Note(kind, detail string, failed bool) {
	if a == nil {
		return
	}
	ev := Event{At: time.Now(), Kind: kind, Detail: detail, Failed: failed}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.events) < keep {
		a.events = append(a.events, ev)
		return
	}
	a.events[a.nextEv] = ev
	a.nextEv = (a.nextEv + 1) % keep
}

// ErrorsByCode summarises the remembered errors: one line per status and
// code, most frequent first.
type ErrorsByCode struct {
	Status    int
	Code      string
	Count     int
	LastAt    time.Time
	LastRoute string
	Tenants   int // distinct contractors among them
}

// RateLimited is the 429s of one contractor among the remembered errors
// (refused by its own limit, or by the limit of one of its users, which
// is checked before the contractor is looked up: then User is set and
// Contractor is the page's lookup).
type RateLimited struct {
	Contractor uuid.UUID
	User       uuid.UUID
	Count      int
	LastAt     time.Time
}

// snapshot is a copy of the activity, newest first.
func (a *Activity) snapshot() (errs []ErrorEvent, events []Event) {
	if a == nil {
		return nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	errs = append(append([]ErrorEvent(nil), a.errors[a.next:]...), a.errors[:a.next]...)
	events = append(append([]Event(nil), a.events[a.nextEv:]...), a.events[:a.nextEv]...)
	for i, j := 0, len(errs)-1; i < j; i, j = i+1, j-1 {
		errs[i], errs[j] = errs[j], errs[i]
	}
	for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
		events[i], events[j] = events[j], events[i]
	}
	return errs, events
}

// summarise groups errs (newest first) by status and code, and the 429s
// by contractor.
func summarise(errs []ErrorEvent) ([]ErrorsByCode, []RateLimited) {
	type codeKey struct {
		status int
		code   string
	}
	byCode := map[codeKey]*ErrorsByCode{}
	tenants := map[codeKey]map[uuid.UUID]bool{}
	limited := map[uuid.UUID]*RateLimited{}
	var codes []*ErrorsByCode
	var rates []*RateLimited
	for _, e := range errs {
		k := codeKey{e.Status, e.Code}
		s, ok := byCode[k]
		if !ok {
			s = &ErrorsByCode{Status: e.Status, Code: e.Code, LastAt: e.At, LastRoute: e.Route}
			byCode[k], tenants[k] = s, map[uuid.UUID]bool{}
			codes = append(codes, s)
		}
		s.Count++
		if e.Contractor != uuid.Nil {
			tenants[k][e.Contractor] = true
		}
		if e.Status == http.StatusTooManyRequests {
			who := e.Contractor
			if who == uuid.Nil {
				who = e.User
			}
			r, ok := limited[who]
			if !ok {
				r = &RateLimited{Contractor: e.Contractor, User: e.User, LastAt: e.At}
				limited[who] = r
				rates = append(rates, r)
			}
			r.Count++
		}
	}
	outCodes := make([]ErrorsByCode, len(codes))
	for i, s := range codes {
		s.Tenants = len(tenants[codeKey{s.Status, s.Code}])
		outCodes[i] = *s
	}
	sort.SliceStable(outCodes, func(i, j int) bool { return outCodes[i].Count > outCodes[j].Count })
	outRates := make([]RateLimited, len(rates))
	for i, r := range rates {
		outRates[i] = *r
	}
	sort.SliceStable(outRates, func(i, j int) bool { return outRates[i].Count > outRates[j].Count })
	return outCodes, outRates
}
