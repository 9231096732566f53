package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/internal/testenv"
	"github.com/syncproxy/syncproxy/migrations"
	"github.com/syncproxy/syncproxy/server"
	"github.com/syncproxy/syncproxy/server/devices"
)

// TestDevices_Table runs `syncproxy devices` against a real database whose
// ledger the server's recorder wrote: two tenants, a device that went
// quiet ten days ago, one that is behind, one up to date.
func TestDevices_Table(t *testing.T) {
	ctx := context.Background()
	cluster, err := testenv.StartCluster(ctx, "devices")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Remove() })
	t.Setenv("DATABASE_URL", cluster.URL("devices"))
	cfg, err := testenv.Config(map[string]string{"DATABASE_URL": cluster.URL("devices"), "SYNC_JWT_SECRET": "0123456789abcdef0123"})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := server.OpenPool(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := migrations.Apply(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	acme, acmeOwner, err := testenv.NewTenant(ctx, pool, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	bolt, boltOwner, err := testenv.NewTenant(ctx, pool, "Bolt")
	if err != nil {
		t.Fatal(err)
	}
	// Acme is at version 9, Bolt at 2.
	for id, seq := range map[uuid.UUID]int{acme: 9, bolt: 2} {
		if _, err := pool.Exec(ctx, "UPDATE sync_clock SET seq = $2, seq_at = now() WHERE contractor_id = $1", id, seq); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	ipad, mac, oldPhone := uuid.MustParse("11111111-1111-4111-8111-111111111111"),
		uuid.MustParse("22222222-2222-4222-8222-222222222222"), uuid.MustParse("33333333-3333-4333-8333-333333333333")
	rec := devices.NewRecorder(db.New(pool), devices.Options{})
	for _, r := range []devices.Request{
		{ContractorID: acme, DeviceID: ipad, UserID: acmeOwner, UserAgent: "Estimates/2.3 SyncProxyClient/1.2.0", Kind: devices.Pull, Status: 200,
			At: now.Add(-2 * time.Minute), Pulled: &devices.Pulled{Version: 9, Time: now.Add(-2 * time.Minute)}},
		{ContractorID: acme, DeviceID: mac, UserID: acmeOwner, UserAgent: "Estimates/2.2 SyncProxyClient/1.2.0", Kind: devices.Push, Status: 409,
			At: now.Add(-3 * time.Hour)},
		{ContractorID: acme, DeviceID: devices.NoDevice, UserID: acmeOwner, Kind: devices.Other, Status: 200, At: now.Add(-30 * time.Second)},
		{ContractorID: bolt, DeviceID: oldPhone, UserID: boltOwner, UserAgent: "Estimates/1.9", Kind: devices.Pull, Status: 200,
			At: now.Add(-10 * 24 * time.Hour), Pulled: &devices.Pulled{Version: 1, Time: now.Add(-10 * 24 * time.Hour)}},
	} {
		rec.Record(r)
	}
	if n := rec.Flush(ctx); n != 4 {
		t.Fatalf("flushed %d devices, want 4", n)
	}

	for _, tc := range []struct {
		name      string
		args      []string
		want, not []string
		err       string
	}{
		{name: "one contractor", args: []string{"-contractor", acme.String()},
			want: []string{"DEVICE", ipad.String(), "up to date", mac.String(), "9 versions", "(no device)", "Estimates/2.2 SyncProxyClient/1.2.0", "2m ago", "3h ago", "30s ago"},
			not:  []string{oldPhone.String(), "CONTRACTOR"}},
		{name: "stale across tenants", args: []string{"-stale", "7d"},
			want: []string{"CONTRACTOR", bolt.String() + " Bolt", oldPhone.String(), "10d ago", "1 version, 9d"},
			not:  []string{ipad.String(), mac.String()}},
		{name: "behind across tenants", args: []string{"-lag", "5"},
			want: []string{mac.String(), acme.String() + " Acme", "9 versions, 2h", "(no device)"},
			not:  []string{ipad.String(), oldPhone.String()}},
		{name: "stale and behind", args: []string{"-stale", "1h", "-lag", "1"},
			want: []string{mac.String(), oldPhone.String()},
			not:  []string{ipad.String(), "(no device)"}},
		{name: "nothing matches", args: []string{"-stale", "30d"}, want: []string{"no devices"}},
		{name: "limit", args: []string{"-lag", "0", "-limit", "1"}, want: []string{oldPhone.String(), "(the first 1; -limit shows more)"},
			not: []string{mac.String()}},
		{name: "no filter", args: nil, err: "-contractor UUID, or -stale"},
		{name: "both kinds", args: []string{"-contractor", acme.String(), "-lag", "1"}, err: "one or the other"},
		{name: "bad age", args: []string{"-stale", "7x"}, err: `"7x" is not a duration`},
		{name: "bad contractor", args: []string{"-contractor", "acme"}, err: "-contractor must be a uuid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := listDevices(ctx, tc.args, &out, now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("output shows %q:\n%s", n, out.String())
				}
			}
			if testing.Verbose() {
				t.Logf("syncproxy devices %s\n%s", strings.Join(tc.args, " "), out.String())
			}
		})
	}
}
