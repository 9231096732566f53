package live

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

func newHub(t *testing.T) *Hub {
	t.Helper()
	h, err := New([]string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mask(t *testing.T, h *Hub, names ...string) Tables {
	t.Helper()
	m, err := h.Mask(names)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// What wakes a waiter of contractor c on table a, resting at version 5.
func TestHub_WhatWakes(t *testing.T) {
	c, other := uuid.New(), uuid.New()
	cases := []struct {
		name     string
		announce func(h *Hub)
		woken    bool
		version  int64
	}{
		{"a push to its table past its base", func(h *Hub) { h.Announce(c, 6, mask(t, h, "a")) }, true, 6},
		{"a push among others to its table", func(h *Hub) { h.Announce(c, 7, mask(t, h, "b", "a")) }, true, 7},
		{"a push to another table", func(h *Hub) { h.Announce(c, 6, mask(t, h, "b")) }, false, 0},
		{"another contractor's push", func(h *Hub) { h.Announce(other, 6, mask(t, h, "a")) }, false, 0},
		{"a push its page already holds", func(h *Hub) { h.Announce(c, 5, mask(t, h, "a")) }, false, 0},
		{"a clock whose table moved past its base", func(h *Hub) { h.AnnounceClock(c, []int64{6, 9, 0}) }, true, 6},
		{"a clock where only other tables moved", func(h *Hub) { h.AnnounceClock(c, []int64{5, 9, 9}) }, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			w := h.Hold(c, mask(t, h, "a"))
			defer h.Release(w)
			tc.announce(h)
			outcome, version := h.Wait(context.Background(), w, 5, time.Now().Add(50*time.Millisecond))
			if (outcome == Woken) != tc.woken || (tc.woken && version != tc.version) {
				t.Fatalf("Wait = %v, %d; want woken %v at %d", outcome, version, tc.woken, tc.version)
			}
		})
	}
}

// A push that commits while the pull is still reading (after Hold, before
// Wait) is not lost.
func TestHub_PushBetweenHoldAndWait_Wakes(t *testing.T) {
	h := newHub(t)
	c := uuid.New()
	w := h.Hold(c, mask(t, h))
	defer h.Release(w)
	h.Announce(c, 3, mask(t, h, "c"))
	if outcome, v := h.Wait(context.Background(), w, 2, time.Now().Add(time.Second)); outcome != Woken || v != 3 {
		t.Fatalf("Wait = %v, %d; want Woken at 3", outcome, v)
	}
}

func TestHub_GoneClosingReleased(t *testing.T) {
	h := newHub(t)
	c := uuid.New()
	w := h.Hold(c, mask(t, h, "a"))
	if h.Held() != 1 || len(h.Contractors()) != 1 {
		t.Fatalf("held %d, contractors %v", h.Held(), h.Contractors())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if outcome, _ := h.Wait(ctx, w, 0, time.Now().Add(time.Minute)); outcome != Gone {
		t.Fatalf("Wait with its client gone = %v", outcome)
	}
	h.Close()
	if outcome, _ := h.Wait(context.Background(), w, 0, time.Now().Add(time.Minute)); outcome != Closing {
		t.Fatalf("Wait on a closed hub = %v", outcome)
	}
	h.Release(w)
	if h.Held() != 0 || len(h.Contractors()) != 0 {
		t.Fatalf("after Release: held %d, contractors %v", h.Held(), h.Contractors())
	}
}

func TestHub_ParsesWhatAnnouncePushSends(t *testing.T) {
	h := newHub(t)
	c := uuid.New()
	got, v, tables, err := h.parse(c.String() + " 42 b,zz,c")
	if err != nil || got != c || v != 42 || tables != mask(t, h, "b", "c") {
		t.Fatalf("parse = %s %d %b %v", got, v, tables, err)
	}
	for _, bad := range []string{"", "x 1 a", c.String() + " x a", c.String() + " 1"} {
		if _, _, _, err := h.parse(bad); err == nil {
			t.Errorf("parse(%q) took it", bad)
		}
	}
}

// A parked waiter (server/handlers/held.go) is woken through its interrupt
// and asks Check: what was announced before the interrupt was installed is
// not lost, and Close interrupts it too.
func TestHub_ParkedWaiter_InterruptAndCheck(t *testing.T) {
	h := newHub(t)
	c := uuid.New()
	w := h.Hold(c, mask(t, h, "a"))
	defer h.Release(w)
	h.Announce(c, 4, mask(t, h, "a")) // before the interrupt: Check sees it
	interrupted := 0
	h.Interrupt(w, func() { interrupted++ })
	far := time.Now().Add(time.Minute)
	if outcome, v := h.Check(w, 3, far); outcome != Woken || v != 4 {
		t.Fatalf("Check after an earlier announce = %v, %d; want Woken at 4", outcome, v)
	}
	if outcome, _ := h.Check(w, 4, far); outcome != Waiting {
		t.Fatalf("Check with nothing new = %v; want Waiting", outcome)
	}
	h.Announce(c, 5, mask(t, h, "b"))
	h.Announce(c, 6, mask(t, h, "a"))
	if interrupted != 1 {
		t.Fatalf("interrupted %d times by one push to its table and one to another, want 1", interrupted)
	}
	if outcome, _ := h.Check(w, 6, time.Now()); outcome != TimedOut {
		t.Fatalf("Check past its deadline = %v; want TimedOut", outcome)
	}
	h.Close()
	if interrupted != 2 {
		t.Fatal("Close did not interrupt the parked waiter")
	}
	if outcome, _ := h.Check(w, 6, far); outcome != Closing {
		t.Fatalf("Check after Close = %v; want Closing", outcome)
	}
}
