package middleware

// The response compressors the issue names, measured on what they would
// compress most: a full 1,000-row costbook_items page (~300 KB), written the
// way the pull handler writes it (one Write of the pre-encoded page) through
// Echo. `go test -run '^$' -bench GzipPage -benchmem ./server/middleware`
// gives ns/op, B/op, allocs/op, gzip-B (the compressed size) and cpu-ns/op
// (the process's CPU time per op, steadier than ns/op on a shared machine).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	stdgzip "compress/gzip"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/syncproxy/syncproxy/gen/db"
	"github.com/syncproxy/syncproxy/wire"
)

// BenchmarkGzipPage_Gzhttp is klauspost/compress's gzhttp behind our
// middleware (CompressResponses), at its fastest level (ours) and its default.
func BenchmarkGzipPage_Gzhttp(b *testing.B) {
	for _, level := range []int{1, 2, 3, -1} {
		b.Run(levelName(level, 5), func(b *testing.B) {
			mw, err := compressResponses(level)
			if err != nil {
				b.Fatal(err)
			}
			benchmarkPage(b, mw)
		})
	}
}

// BenchmarkGzipPage_EchoGzip is Echo's own middleware.Gzip (compress/gzip of
// the standard library), with the same 1 KiB threshold.
func BenchmarkGzipPage_EchoGzip(b *testing.B) {
	for _, level := range []int{1, -1} {
		b.Run(levelName(level, 6), func(b *testing.B) {
			benchmarkPage(b, echomw.GzipWithConfig(echomw.GzipConfig{Level: level, MinLength: GzipMinSize}))
		})
	}
}

// BenchmarkGzipPage_None is the same page uncompressed: the cost of Echo and
// the writer alone.
func BenchmarkGzipPage_None(b *testing.B) {
	benchmarkPage(b, func(next echo.HandlerFunc) echo.HandlerFunc { return next })
}

func levelName(level, defaultLevel int) string {
	if level < 0 {
		return fmt.Sprintf("level=default(%d)", defaultLevel)
	}
	return fmt.Sprintf("level=%d", level)
}

func benchmarkPage(b *testing.B, mw echo.MiddlewareFunc) {
	page := costbookPage(b, 1000)
	e := echo.New()
	e.Use(mw)
	e.GET("/api/sync/pull", func(c echo.Context) error {
		w := c.Response()
		w.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		w.WriteHeader(http.StatusOK)
		_, err := w.Write(page)
		return err
	})
	req := httptest.NewRequest(http.MethodGet, "/api/sync/pull", nil)
	req.Header.Set(echo.HeaderAcceptEncoding, "gzip, deflate, br") // what URLSession sends

	// Once outside the timer: the body must come back as the page.
	out := &discardWriter{header: http.Header{}, keep: true}
	e.ServeHTTP(out, req)
	if got := decoded(b, out); !bytes.Equal(got, page) {
		b.Fatalf("the body does not decode to the page (%d bytes, want %d)", len(got), len(page))
	}

	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	var sent int
	cpu := processCPU()
	for b.Loop() {
		w := &discardWriter{header: http.Header{}}
		e.ServeHTTP(w, req)
		sent = w.n
	}
	b.ReportMetric(float64(sent), "gzip-B")
	// The machine this runs on is shared: wall time per op moves with the
	// neighbours' load, the CPU time the process spent much less so.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func decoded(b *testing.B, w *discardWriter) []byte {
	if w.header.Get(echo.HeaderContentEncoding) != "gzip" {
		return w.body.Bytes()
	}
	zr, err := stdgzip.NewReader(&w.body)
	if err != nil {
		b.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	return plain
}

// discardWriter is a connection that costs nothing: it counts what it is sent
// (and keeps it while keep is set).
type discardWriter struct {
	header http.Header
	n      int
	body   bytes.Buffer
	keep   bool
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(int)     {}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.keep {
		w.body.Write(p)
	}
	return len(p), nil
}

// costbookPage is a pull page of n costbook_items rows of one contractor, as
// the store encodes them (json.Marshal of the generated model) with the other
// tables empty: made-up but plausible values, the same on every run.
func costbookPage(tb testing.TB, n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	id := func() uuid.UUID {
		var u uuid.UUID
		for i := range u {
			u[i] = byte(rng.UintN(256))
		}
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		return u
	}
	pick := func(words []string) string { return words[rng.IntN(len(words))] }
	materials := []string{"Drywall sheet", "Joint compound", "Corner bead", "Framing stud", "Plywood panel", "Roofing shingle",
		"Copper pipe", "PVC elbow", "Electrical box", "Romex cable", "Light switch", "Outlet cover", "Paint primer",
		"Interior paint", "Ceramic tile", "Tile grout", "Vinyl plank", "Baseboard trim", "Door hinge", "Insulation batt"}
	sizes := []string{"1/2 in", "5/8 in", "4x8", "2x4x8", "3/4 in", "10 ft", "12/2", "1 gal", "5 gal", "12x12", "R-13", "3.5 in"}
	phrases := []string{"standard grade", "moisture resistant", "for interior walls", "contractor pack", "per manufacturer spec",
		"includes fasteners", "low VOC", "fire rated", "pre-primed", "bulk pricing", "special order", "matches existing"}
	units := []string{"each", "sqft", "lf", "box", "gal", "hr", "roll", "bag"}
	contractor := id()
	folders := make([]uuid.UUID, 24)
	for i := range folders {
		folders[i] = id()
	}
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	str := func(s string) *string { return &s }
	dec := func(cents int) *wire.Decimal {
		d := wire.Decimal(fmt.Sprintf("%d.%02d", cents/100, cents%100))
		return &d
	}
	rows := make([]string, n)
	for i := range rows {
		created := start.Add(time.Duration(rng.IntN(90*24*3600*1000)) * time.Millisecond)
		folder := folders[rng.IntN(len(folders))]
		var desc *string // a third of the items have none
		if rng.IntN(3) > 0 {
			d := pick(phrases) + ", " + pick(phrases)
			desc = str(strings.ToUpper(d[:1]) + d[1:])
		}
		row := db.CostbookItem{
			ContractorID:  contractor,
			ID:            id(),
			Name:          pick(materials) + " " + pick(sizes),
			FolderID:      &folder,
			Description:   desc,
			Unit:          str(pick(units)),
			UnitCost:      dec(50 + rng.IntN(50000)),
			MarkupPercent: dec(500 * rng.IntN(8)),
			Sku:           str(fmt.Sprintf("%s-%05d", strings.ToUpper(pick(units)[:2]), rng.IntN(100000))),
			Taxable:       rng.IntN(4) > 0,
			CreatedAt:     wire.NewTimestamp(created),
			UpdatedAt:     wire.NewTimestamp(created.Add(time.Duration(rng.IntN(3600*1000)) * time.Millisecond)),
		}
		raw, err := json.Marshal(&row)
		if err != nil {
			tb.Fatal(err)
		}
		rows[i] = string(raw)
	}
	var b strings.Builder
	b.WriteString(`{"ok":true,"serverTime":"2026-06-01T12:00:00.000Z","cursor":"eyJ2IjoxLCJzIjo0MjEzLCJ0IjoiLy8vLyJ9","hasMore":true`)
	for _, t := range []string{"contractors", "costbook_folders", "costbook_items", "estimates", "estimate_events",
		"pdf_settings", "pricing_rules", "step_a_configs", "step_a_rules"} {
		b.WriteString(`,"` + t + `":[`)
		if t == "costbook_items" {
			b.WriteString(strings.Join(rows, ","))
		}
		b.WriteString(`]`)
	}
	b.WriteString(`,"deleted":{"costbook_folders":[],"costbook_items":[],"estimates":[],"estimate_events":[],"pricing_rules":[],"step_a_rules":[]}}` + "\n")
	return []byte(b.String())
}
