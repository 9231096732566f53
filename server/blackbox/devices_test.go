package blackbox_test

// Contract 1.2, "Devices": every sync request is counted in its
// contractor's device ledger under the X-Device-Id it carries, and GET
// /api/sync/devices lists the caller's contractor's devices with their lag.
// The ledger is written in batches (SYNC_DEVICES_FLUSH_INTERVAL, 50 ms in
// this suite), so the tests read it back the way an app would: until it
// shows what they did, within a deadline.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/syncproxy/syncproxy/gen/api"
	"github.com/syncproxy/syncproxy/internal/devicetest"
)

// asDevice is d as one app install: its X-Device-Id and User-Agent on
// every request.
func asDevice(d *devicetest.Device, id uuid.UUID, userAgent string) *devicetest.Device {
	return d.WithHeaders(map[string]string{"X-Device-Id": id.String(), "User-Agent": userAgent})
}

// ledgerUntil lists d's contractor's devices until done accepts the list,
// and fails the test with the last list after a deadline.
func ledgerUntil(t *testing.T, d *devicetest.Device, done func(api.DeviceList) bool) api.DeviceList {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list := d.MustDevices()
		if done(list) {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger never showed what the test did; last: %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func deviceIn(list api.DeviceList, id uuid.UUID) (api.Device, bool) {
	for _, d := range list.Devices {
		if d.DeviceId == id {
			return d, true
		}
	}
	return api.Device{}, false
}

func TestDevices_LedgerCountsEachDevice(t *testing.T) {
	owner := env.NewTenant(t)
	ipadID, macID := uuid.New(), uuid.New()
	ipad := asDevice(owner, ipadID, "Estimates/2.3 (iPad; iPadOS 17.2) SyncProxyClient/1.2.0")
	mac := asDevice(owner, macID, "Estimates/2.3 (Mac Catalyst; macOS 14.2) SyncProxyClient/1.2.0")

	lagBefore := lagObservations(t)
	// The iPad: two pushes, a conflict, a refused push, a complete pull.
	id := uuid.New()
	first := ipad.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "Drywall"}}})
	// Written before the next requests: what later flushes bring adds up.
	ledgerUntil(t, owner, func(l api.DeviceList) bool { d, ok := deviceIn(l, ipadID); return ok && d.Pushes == 1 })
	ipad.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "Drywall ½", "base_version": first.Version}}})
	if r := ipad.Push(map[string]any{"costbook_items": []any{map[string]any{"id": id, "name": "stale", "base_version": first.Version}}}); r.Status != http.StatusConflict {
		t.Fatalf("stale push = %d, want 409: %s", r.Status, devicetest.Truncate(r.Body))
	}
	if r := ipad.Push(map[string]any{"costbook_items": []any{map[string]any{"id": "not-a-uuid", "name": "x"}}}); r.Status != http.StatusBadRequest {
		t.Fatalf("bad push = %d, want 400: %s", r.Status, devicetest.Truncate(r.Body))
	}
	ipadPages := ipad.PullAll(nil)

	// The Mac pulls everything, then the iPad pushes once more: the Mac is
	// one version behind.
	mac.PullAll(nil)
	macPulledAt := time.Now()
	time.Sleep(1100 * time.Millisecond) // so the lag in seconds is at least 1
	last := ipad.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "Studs"}}})

	list := ledgerUntil(t, owner, func(l api.DeviceList) bool {
		i, ok1 := deviceIn(l, ipadID)
		m, ok2 := deviceIn(l, macID)
		return ok1 && ok2 && i.Pushes == 3 && m.Pulls >= 1 && l.Version == last.Version
	})
	if len(list.Devices) != 2 {
		t.Errorf("devices = %d, want the iPad and the Mac only: %+v", len(list.Devices), list.Devices)
	}
	i, _ := deviceIn(list, ipadID)
	m, _ := deviceIn(list, macID)

	// The iPad's counts and identity.
	if i.Pushes != 3 || i.Conflicts != 1 || i.RejectedPushes != 1 || i.Pulls != int64(len(ipadPages)) {
		t.Errorf("iPad counts: pushes %d conflicts %d rejected %d pulls %d; want 3, 1, 1, %d",
			i.Pushes, i.Conflicts, i.RejectedPushes, i.Pulls, len(ipadPages))
	}
	if i.UserId != owner.UserID {
		t.Errorf("iPad userId = %s, want the owner %s", i.UserId, owner.UserID)
	}
	if i.UserAgent != "Estimates/2.3 (iPad; iPadOS 17.2) SyncProxyClient/1.2.0" {
		t.Errorf("iPad userAgent = %q", i.UserAgent)
	}
	if i.LastPushAt == nil || i.LastPullAt == nil || i.LastSeen.Before(i.FirstSeen.Time) {
		t.Errorf("iPad times: first %v last %v push %v pull %v", i.FirstSeen, i.LastSeen, i.LastPushAt, i.LastPullAt)
	}
	// It pulled after its third push (version last-1), not after its fourth.
	if i.PulledVersion == nil || *i.PulledVersion != last.Version-1 || i.LagVersions != 1 {
		t.Errorf("iPad pulledVersion %v lagVersions %d; want %d and 1", i.PulledVersion, i.LagVersions, last.Version-1)
	}

	// The Mac: only pulls, one version behind, by at least the second the
	// test waited.
	if m.Pushes != 0 || m.Conflicts != 0 || m.RejectedPushes != 0 || m.LastPushAt != nil {
		t.Errorf("Mac pushed nothing, ledger says pushes %d conflicts %d rejected %d lastPushAt %v",
			m.Pushes, m.Conflicts, m.RejectedPushes, m.LastPushAt)
	}
	if m.PulledVersion == nil || *m.PulledVersion != last.Version-1 || m.LagVersions != 1 {
		t.Errorf("Mac pulledVersion %v lagVersions %d; want %d and 1", m.PulledVersion, m.LagVersions, last.Version-1)
	}
	if m.LagSeconds < 1 || m.LagSeconds > int64(time.Since(macPulledAt)/time.Second)+1 {
		t.Errorf("Mac lagSeconds = %d, want about %s", m.LagSeconds, time.Since(macPulledAt))
	}

	if after := lagObservations(t); after < lagBefore+2 {
		t.Errorf("syncproxy_device_lag_versions_count went from %d to %d over two complete pulls", lagBefore, after)
	}

	// Once the Mac pulls again it is up to date.
	mac.PullAll(url.Values{})
	ledgerUntil(t, owner, func(l api.DeviceList) bool {
		m, ok := deviceIn(l, macID)
		return ok && m.LagVersions == 0 && m.LagSeconds == 0 && m.PulledVersion != nil && *m.PulledVersion == last.Version
	})
}

func TestDevices_WithoutDeviceID_CountedUnderNoDevice(t *testing.T) {
	owner := env.NewTenant(t)
	owner.MustCanary()
	owner.MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "x"}}})
	// An X-Device-Id that is no uuid is not refused, and counts as none.
	bad := owner.WithHeaders(map[string]string{"X-Device-Id": "my-ipad"})
	if r := bad.Pull(nil); r.Status != http.StatusOK {
		t.Fatalf("pull with X-Device-Id: my-ipad = %d, want 200: %s", r.Status, devicetest.Truncate(r.Body))
	}

	list := ledgerUntil(t, owner, func(l api.DeviceList) bool {
		d, ok := deviceIn(l, uuid.Nil)
		return ok && d.Pushes == 1 && d.Pulls == 1
	})
	if len(list.Devices) != 1 {
		t.Errorf("devices = %+v, want only the nil uuid (no device)", list.Devices)
	}
}

func TestDevices_ListsOnlyTheCallersContractor(t *testing.T) {
	a, b := env.NewTenant(t), env.NewTenant(t)
	aDevice, bDevice := uuid.New(), uuid.New()
	asDevice(a, aDevice, "A/1").MustPush(map[string]any{"costbook_items": []any{map[string]any{"id": uuid.New(), "name": "a"}}})
	// B's device sends A's device id too: ids are the app's to choose, and
	// the ledger is keyed by contractor first.
	asDevice(b, bDevice, "B/1").MustCanary()
	asDevice(b, aDevice, "B/2").MustCanary()

	ledgerUntil(t, b, func(l api.DeviceList) bool { return len(l.Devices) == 2 })
	listA := ledgerUntil(t, a, func(l api.DeviceList) bool { _, ok := deviceIn(l, aDevice); return ok })
	for _, d := range listA.Devices {
		if d.DeviceId != aDevice || d.UserAgent != "A/1" || d.UserId != a.UserID {
			t.Errorf("A's ledger shows %+v: not A's device", d)
		}
	}
	listB := b.MustDevices()
	for _, d := range listB.Devices {
		if d.UserId != b.UserID || d.Pushes != 0 {
			t.Errorf("B's ledger shows %+v: not B's device", d)
		}
	}
}

// lagObservations reads the count of the device-lag histogram from /metrics.
func lagObservations(t *testing.T) int64 {
	t.Helper()
	r := env.DeviceWithToken(t, "").Do(http.MethodGet, "/metrics", nil, nil)
	for _, line := range strings.Split(string(r.Body), "\n") {
		if v, ok := strings.CutPrefix(line, "syncproxy_device_lag_versions_count "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatal("/metrics has no syncproxy_device_lag_versions_count")
	return 0
}
