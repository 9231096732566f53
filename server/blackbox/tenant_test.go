package blackbox_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/internal/devicetest"
	"github.com/syncproxy/syncproxy/server/tenant"
)

func TestAuth_BadTokens_401(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t) // every token below names a real, provisioned user
	sub := d.UserID.String()
	secret := []byte(devicetest.Secret)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := goTrueClaims(sub)
		change(c)
		return c
	}
	hs256 := func(c jwt.MapClaims) string { return signToken(t, jwt.SigningMethodHS256, secret, c) }
	cases := []struct {
		name          string
		authorization string // the whole header; "" sends none
	}{
		{"missing header", ""},
		{"Basic scheme", "Basic " + "dXNlcjpwYXNz"},
		{"token without scheme", hs256(goTrueClaims(sub))},
		{"Bearer and nothing", "Bearer "},
		{"garbage", "Bearer not.a.jwt"},
		{"alg none", "Bearer " + unsignedToken(t, goTrueClaims(sub))},
		{"alg none, signature of the real token", "Bearer " + unsignedToken(t, goTrueClaims(sub)) +
			strings.Split(hs256(goTrueClaims(sub)), ".")[2]},
		{"wrong HS256 secret", "Bearer " + signToken(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef"), goTrueClaims(sub))},
		{"HS512 with the right secret", "Bearer " + signToken(t, jwt.SigningMethodHS512, secret, goTrueClaims(sub))},
		{"RS256", "Bearer " + signToken(t, jwt.SigningMethodRS256, rsaKey, goTrueClaims(sub))},
		{"tampered claims", "Bearer " + tamper(t, hs256(goTrueClaims(sub)), uuid.NewString())},
		{"expired", "Bearer " + hs256(with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))},
		{"no exp", "Bearer " + hs256(with(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"nbf in the future", "Bearer " + hs256(with(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }))},
		{"wrong aud", "Bearer " + hs256(with(func(c jwt.MapClaims) { c["aud"] = "anon" }))},
		{"no aud", "Bearer " + hs256(with(func(c jwt.MapClaims) { delete(c, "aud") }))},
		{"missing sub", "Bearer " + hs256(with(func(c jwt.MapClaims) { delete(c, "sub") }))},
		{"empty sub", "Bearer " + hs256(with(func(c jwt.MapClaims) { c["sub"] = "" }))},
		{"non-uuid sub", "Bearer " + hs256(with(func(c jwt.MapClaims) { c["sub"] = "user-42" }))},
	}
	routes := []struct{ method, path string }{
		{http.MethodGet, "/api/sync/canary"},
		{http.MethodGet, "/api/sync/pull"},
		{http.MethodPost, "/api/sync/push"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dev := d.As(t).WithToken("")
			for _, route := range routes {
				r := dev.Do(route.method, route.path, map[string]any{}, map[string]string{"Authorization": tc.authorization})
				e := r.Envelope(t, http.StatusUnauthorized, "UNAUTHORIZED")
				if token := strings.TrimPrefix(tc.authorization, "Bearer "); len(token) > 8 && strings.Contains(string(r.Body), token) {
					t.Fatalf("the 401 body echoes the token: %s", r.Body)
				}
				if e.Message == "" {
					t.Fatal("no message")
				}
			}
		})
	}
}

// tamper swaps the token's sub for another without re-signing.
func tamper(t *testing.T, token, sub string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	claims := goTrueClaims(sub)
	forged := strings.Split(unsignedToken(t, claims), ".")[1]
	return parts[0] + "." + forged + "." + parts[2]
}

func TestAuth_ClockSkewWithinLeeway_Accepted(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	c := goTrueClaims(d.UserID.String())
	c["nbf"] = time.Now().Add(10 * time.Second).Unix()
	tok := signToken(t, jwt.SigningMethodHS256, []byte(devicetest.Secret), c)
	if got := d.WithToken(tok).MustCanary(); got.ContractorId != d.ContractorID {
		t.Fatalf("canary = %+v", got)
	}
}

func TestTenant_AuthUserWithoutContractor_403(t *testing.T) {
	t.Parallel()
	stranger := env.DeviceFor(t, uuid.New(), uuid.Nil)
	stranger.Canary().Envelope(t, http.StatusForbidden, "FORBIDDEN")
	stranger.Pull(nil).Envelope(t, http.StatusForbidden, "FORBIDDEN")
	stranger.Push(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "x"}}}).
		Envelope(t, http.StatusForbidden, "FORBIDDEN")
	if n := sqlCount(t, `SELECT count(*) FROM contractors WHERE id = $1`, stranger.UserID); n != 0 {
		t.Fatal("a push by a user without contractor created one")
	}
}

func TestTenant_SoloContractor_IsItsOwnTenant(t *testing.T) {
	t.Parallel()
	sub := uuid.New()
	sqlExec(t, `INSERT INTO contractors (id, name) VALUES ($1, 'Solo Sam')`, sub)
	d := env.DeviceFor(t, sub, sub)
	c := d.MustCanary()
	if c.UserId != sub || c.ContractorId != sub {
		t.Fatalf("canary = %+v, want user and contractor %s", c, sub)
	}
	page := d.MustPull(nil)
	if len(page.Contractors) != 1 || page.Contractors[0].ID != sub || page.Contractors[0].Name != "Solo Sam" {
		t.Fatalf("contractors = %+v", page.Contractors)
	}
	id := uuid.New()
	d.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "Solo item"}}})
	items := d.MustPull(nil).CostbookItems
	if len(items) != 1 || items[0].ID != id || items[0].ContractorID != sub {
		t.Fatalf("items = %+v", items)
	}
}

func TestTenant_TeamMember_WorksInItsContractor(t *testing.T) {
	t.Parallel()
	owner, member := uuid.New(), uuid.New()
	c, err := tenant.Create(context.Background(), env.Pool, tenant.NewContractor{
		Name: "Team " + t.Name(),
		Members: []tenant.Member{
			{AuthUserID: owner, Role: "owner"},
			{AuthUserID: member, Role: "member"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := env.DeviceFor(t, member, c.ID)
	if got := m.MustCanary(); got.UserId != member || got.ContractorId != c.ID {
		t.Fatalf("member canary = %+v, want contractor %s", got, c.ID)
	}
	id := uuid.New()
	m.MustPush(map[string]any{"estimates": []any{map[string]any{"id": id, "number": "M-1"}}})
	o := env.DeviceFor(t, owner, c.ID)
	got := o.MustPull(nil).Estimates
	if len(got) != 1 || got[0].ID != id || got[0].ContractorID != c.ID {
		t.Fatalf("owner sees %+v, want the member's estimate", got)
	}
}

func TestTenant_UsersRowWinsOverContractorWithSameID(t *testing.T) {
	t.Parallel()
	// An auth user whose id is also a contractor's id, but who is a member of
	// another contractor: the users row decides.
	sub := uuid.New()
	sqlExec(t, `INSERT INTO contractors (id, name) VALUES ($1, 'Former solo')`, sub)
	team, err := tenant.Create(context.Background(), env.Pool, tenant.NewContractor{
		Name: "Team " + t.Name(), Members: []tenant.Member{{AuthUserID: sub, Role: "admin"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := env.DeviceFor(t, sub, team.ID).MustCanary(); got.ContractorId != team.ID {
		t.Fatalf("contractor = %s, want the users row's %s", got.ContractorId, team.ID)
	}
}

func TestTenant_RemovedMember_LosesAccess(t *testing.T) {
	t.Parallel()
	d := env.NewTenant(t)
	d.MustCanary()
	sqlExec(t, `DELETE FROM users WHERE auth_user_id = $1`, d.UserID)
	// Same still-valid token: the tenant is derived per request, not cached in it.
	d.Canary().Envelope(t, http.StatusForbidden, "FORBIDDEN")
}

// TestTenant_ResolveFunction_AnswersAsTheQueryItReplaced: the tenant lookup
// became the PL/pgSQL function resolve_contractor (migrations/0008, whose
// plans Postgres keeps per server connection, also behind a pooler). In
// every case the tenant tests above cover, it answers what the query it
// replaced answers, and the generated ResolveContractor returns that.
func TestTenant_ResolveFunction_AnswersAsTheQueryItReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The lookup as queries/tenant.sql had it before 0008.
	const replaced = `SELECT COALESCE(
    (SELECT u.contractor_id FROM users u WHERE u.auth_user_id = $1),
    (SELECT c.id FROM contractors c WHERE c.id = $1)
)::uuid`
	team := func(members ...tenant.Member) uuid.UUID {
		c, err := tenant.Create(ctx, env.Pool, tenant.NewContractor{Name: "Team " + t.Name(), Members: members})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	solo, formerSolo, owner, member, removed := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	sqlExec(t, `INSERT INTO contractors (id, name) VALUES ($1, 'Solo'), ($2, 'Former solo')`, solo, formerSolo)
	teamID := team(tenant.Member{AuthUserID: owner, Role: "owner"}, tenant.Member{AuthUserID: member, Role: "member"})
	otherTeam := team(tenant.Member{AuthUserID: formerSolo, Role: "admin"}, tenant.Member{AuthUserID: removed, Role: "member"})
	sqlExec(t, `DELETE FROM users WHERE auth_user_id = $1`, removed)
	cases := []struct {
		name string
		user uuid.UUID
		want uuid.UUID // uuid.Nil: no contractor
	}{
		{"auth user without contractor", uuid.New(), uuid.Nil},
		{"solo contractor", solo, solo},
		{"team owner", owner, teamID},
		{"team member", member, teamID},
		{"users row wins over a contractor with the same id", formerSolo, otherTeam},
		{"removed member", removed, uuid.Nil},
	}
	q := db.New(env.Pool)
	for _, c := range cases {
		var old, fn *uuid.UUID
		if err := env.Pool.QueryRow(ctx, replaced, c.user).Scan(&old); err != nil {
			t.Fatalf("%s: the replaced query: %v", c.name, err)
		}
		if err := env.Pool.QueryRow(ctx, `SELECT resolve_contractor($1)`, c.user).Scan(&fn); err != nil {
			t.Fatalf("%s: resolve_contractor: %v", c.name, err)
		}
		got, err := q.ResolveContractor(ctx, c.user)
		if err != nil {
			t.Fatalf("%s: ResolveContractor: %v", c.name, err)
		}
		deref := func(p *uuid.UUID) uuid.UUID {
			if p == nil {
				return uuid.Nil
			}
			return *p
		}
		if deref(old) != c.want || deref(fn) != deref(old) || (fn == nil) != (old == nil) || got != c.want {
			t.Errorf("%s: replaced query %v, resolve_contractor %v, ResolveContractor %v; want %v", c.name, old, fn, got, c.want)
		}
	}
}
