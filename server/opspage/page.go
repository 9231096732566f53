// Package opspage is the operators' page (issue 21): every tenant, their
// devices with lag and last sync, this instance's recent errors by code,
// rate limiting and purges. It is served on a listener of its own
// (SYNC_OPS_ADDR, off unless set) behind its own secret (SYNC_OPS_TOKEN),
// so no app token opens it and it never shares a port with the sync API.
// Server-rendered HTML from html/template, no JavaScript: it works from a
// phone and needs no build.
package opspage

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/server/devices"
)

// Shown caps the rows of each table: the page answers "what is going on",
// syncproxy devices lists everything.
const (
	shownTenants = 200
	shownDevices = 300
	shownEvents  = 50
)

// cookieName carries the token after a browser opened /?token=...
const cookieName = "syncproxy_ops"

// Options are what the page reads.
type Options struct {
	Queries  *db.Queries
	Token    string
	Activity *Activity
	// Settings are shown as they are (rate limit, retention, ...); never
	// secrets.
	Settings []Setting
	Logger   *slog.Logger
	// Timeout bounds the page's queries.
	Timeout time.Duration
	// Live is this instance's held pulls (server/live's Hub); nil: none.
	Live Holder
}

// Holder tells the pulls held now and whose they are.
type Holder interface {
	Held() int64
	Contractors() []uuid.UUID
}

// Setting is one configuration value the page shows.
type Setting struct{ Name, Value string }

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("ops").Funcs(template.FuncMap{
	"ago":   ago,
	"span":  func(s int64) string { return devices.Span(time.Duration(s) * time.Second) },
	"short": func(id uuid.UUID) string { return id.String()[:8] },
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}).Parse(pageHTML))

// Handler serves the page at / (and nothing else).
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	want := sha256.Sum256([]byte(o.Token))
	started := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if t := r.URL.Query().Get("token"); t != "" {
			// Once, from a link: kept in a cookie, and off the URL (and
			// so out of the history and any proxy's log) at once.
			if !matches(want, t) {
				http.Error(w, "wrong ops token", http.StatusUnauthorized)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		if !authorized(want, r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="syncproxy ops"`)
			http.Error(w, "the ops page needs SYNC_OPS_TOKEN: Authorization: Bearer <token>, or open /?token=<token> once", http.StatusUnauthorized)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), o.Timeout)
		defer cancel()
		view, err := load(ctx, o, started)
		if err != nil {
			o.Logger.Error("ops page", "err", err)
			http.Error(w, "the ops page could not read the database (see the server log)", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, view); err != nil {
			o.Logger.Warn("ops page: writing", "err", err)
		}
	})
}

// authorized: the bearer header or the cookie carries the ops token.
func authorized(want [32]byte, r *http.Request) bool {
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return matches(want, strings.TrimSpace(token))
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return matches(want, c.Value)
	}
	return false
}

// matches compares digests in constant time: the token's length leaks no
// more than its bytes.
func matches(want [32]byte, got string) bool {
	g := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(want[:], g[:]) == 1
}

// view is what the template shows.
type view struct {
	Now, Started time.Time
	Uptime       string
	Tenants      []tenantRow
	Devices      []deviceRow
	MoreDevices  bool
	Errors       []ErrorsByCode
	ErrorCount   int
	RateLimited  []RateLimited
	Events       []Event
	Settings     []Setting
	Held         int64 // pulls held on this instance now
	names        map[uuid.UUID]string
}

type tenantRow struct {
	db.OpsTenantsRow
	Seen    bool // LastSeen is a device's, not "none yet"
	Holding bool // a pull of the tenant is held on this instance now
}

type deviceRow struct {
	Tenant   string
	Row      db.OpsDevicesRow
	Lag      devices.Lag
	NoDevice bool
	LastPull *time.Time
	LastPush *time.Time
}

// TenantName names a contractor of the page ("" when not among them).
func (v view) TenantName(id uuid.UUID) string { return v.names[id] }

func load(ctx context.Context, o Options, started time.Time) (view, error) {
	now := time.Now()
	v := view{Now: now, Started: started, Uptime: devices.Span(now.Sub(started)), Settings: o.Settings, names: map[uuid.UUID]string{}}
	tenants, err := o.Queries.OpsTenants(ctx, shownTenants)
	if err != nil {
		return v, fmt.Errorf("ops tenants: %w", err)
	}
	holding := map[uuid.UUID]bool{}
	if o.Live != nil {
		v.Held = o.Live.Held()
		for _, c := range o.Live.Contractors() {
			holding[c] = true
		}
	}
	for _, t := range tenants {
		v.Tenants = append(v.Tenants, tenantRow{OpsTenantsRow: t, Seen: t.LastSeen.Unix() != 0, Holding: holding[t.ID]})
		v.names[t.ID] = t.Name
	}
	rows, err := o.Queries.OpsDevices(ctx, shownDevices+1)
	if err != nil {
		return v, fmt.Errorf("ops devices: %w", err)
	}
	if len(rows) > shownDevices {
		rows, v.MoreDevices = rows[:shownDevices], true
	}
	for _, r := range rows {
		d := deviceRow{Tenant: r.ContractorName, Row: r, NoDevice: r.DeviceID == devices.NoDevice, Lag: devices.LagOf(db.ListDevicesRow{
			FirstSeen: r.FirstSeen, PulledVersion: r.PulledVersion, PulledVersionAt: r.PulledVersionAt,
			ContractorVersion: r.ContractorVersion, ContractorVersionAt: r.ContractorVersionAt,
		})}
		if r.LastPullAt != nil {
			d.LastPull = &r.LastPullAt.Time
		}
		if r.LastPushAt != nil {
			d.LastPush = &r.LastPushAt.Time
		}
		v.Devices = append(v.Devices, d)
	}
	errs, events := o.Activity.snapshot()
	v.ErrorCount = len(errs)
	v.Errors, v.RateLimited = summarise(errs)
	for i, r := range v.RateLimited {
		if r.Contractor == uuid.Nil && r.User != uuid.Nil {
			// A user's own limit refused it before the lookup: look it up.
			if c, err := o.Queries.ResolveContractor(ctx, r.User); err == nil {
				v.RateLimited[i].Contractor = c
			}
		}
	}
	if len(events) > shownEvents {
		events = events[:shownEvents]
	}
	v.Events = events
	return v, nil
}

// ago is how long before now t was, in its largest whole unit.
func ago(now, t time.Time) string { return devices.Span(now.Sub(t)) + " ago" }
