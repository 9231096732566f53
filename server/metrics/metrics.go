// Package metrics owns the Prometheus registry the server exposes at /metrics.
package metrics

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// Routes of the sync operations, as Echo reports them (the spec's paths).
const (
	PullRoute = "/api/sync/pull"
	PushRoute = "/api/sync/push"
)

// Metrics is the server's registry and its collectors. Every series name is
// listed in the README; rename one only together with the dashboards.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	pulls    *prometheus.CounterVec
	pushes   *prometheus.CounterVec

	rowsPulled  *prometheus.CounterVec
	rowsPushed  *prometheus.CounterVec
	rowsDeduped *prometheus.CounterVec
	pushBytes   prometheus.Histogram
	replays     prometheus.Counter
	deviceLag   prometheus.Histogram
}

// New registers the HTTP and sync collectors and the Go runtime collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncproxy_http_requests_total",
			Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "syncproxy_http_request_duration_seconds",
			Help:    "HTTP request duration by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncproxy_http_errors_total",
			Help: "Error responses by status and contract error code (400 BAD_REQUEST, 401 UNAUTHORIZED, 403 FORBIDDEN, 429 RATE_LIMITED, ...).",
		}, []string{"status", "code"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncproxy_sync_pulls_total",
			Help: "Pull requests by HTTP status.",
		}, []string{"status"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncproxy_sync_pushes_total",
			Help: "Push requests by HTTP status (idempotent replays included).",
		}, []string{"status"}),
		rowsPulled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncproxy_sync_rows_pulled_total",
			Help: "Rows delivered by pulls, by table; op=upsert for live rows, op=delete for tombstones.",
		}, []string{"table", "op"}),
		rowsPushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncproxy_sync_rows_pushed_total",
			Help: "Rows written by applied pushes, by table and op (upsert or delete); replays are not counted.",
		}, []string{"table", "op"}),
		rowsDeduped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncproxy_sync_rows_deduped_total",
			Help: "Duplicate rows collapsed within one push (last one wins), by table.",
		}, []string{"table"}),
		pushBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "syncproxy_sync_push_payload_bytes",
			Help:    "Size of push request bodies as read, in bytes.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 9), // 256 B … 16 MiB
		}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "syncproxy_sync_idempotent_replays_total",
			Help: "Pushes answered from a stored Idempotency-Key response; nothing was applied.",
		}),
		// No tenant or device label: the ledger (GET /api/sync/devices)
		// answers for one device; this is the shape over all of them.
		deviceLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "syncproxy_device_lag_versions",
			Help:    "How many versions a device was behind its contractor when a pull walk that it completed began (a walk from nothing: all of them).",
			Buckets: []float64{0, 1, 2, 5, 10, 25, 50, 100, 250, 1000, 10000, 100000},
		}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.errors, m.pulls, m.pushes,
		m.rowsPulled, m.rowsPushed, m.rowsDeduped, m.pushBytes, m.replays, m.deviceLag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds more collectors (e.g. the database pool's).
func (m *Metrics) Register(c ...prometheus.Collector) { m.registry.MustRegister(c...) }

// RegisterBodyBytesInFlight exposes the bytes of push bodies being read and
// applied now (reserved against SYNC_MAX_PUSH_BYTES_IN_FLIGHT).
func (m *Metrics) RegisterBodyBytesInFlight(read func() float64) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "syncproxy_sync_push_bytes_in_flight",
		Help: "Bytes of push bodies being read and applied now (a body of unknown length counts as SYNC_MAX_BODY_BYTES).",
	}, read))
}

// RegisterHeldPulls exposes how many live pulls the instance holds now
// (no tenant label: a series per contractor would grow without bound).
func (m *Metrics) RegisterHeldPulls(read func() float64) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "syncproxy_sync_pulls_held",
		Help: "Live pulls (`wait`) held now, waiting for a push; each holds its HTTP connection but no database connection.",
	}, read))
}

// ObserveRequest records one finished request. route is the matched route
// pattern (never the raw path, which would explode cardinality), method is
// reduced to MethodLabel; code is the envelope's error code of a non-2xx
// answer, empty otherwise.
func (m *Metrics) ObserveRequest(route, method string, status int, code string, elapsed time.Duration) {
	s := strconv.Itoa(status)
	method = MethodLabel(method)
	m.requests.WithLabelValues(route, method, s).Inc()
	m.duration.WithLabelValues(route, method, s).Observe(elapsed.Seconds())
	if code != "" {
		m.errors.WithLabelValues(s, code).Inc()
	}
	switch route {
	case PullRoute:
		m.pulls.WithLabelValues(s).Inc()
	case PushRoute:
		m.pushes.WithLabelValues(s).Inc()
	}
}

// ObservePushBytes records the size of one push body.
func (m *Metrics) ObservePushBytes(n int64) { m.pushBytes.Observe(float64(n)) }

// ObserveDeviceLag records, for a completed pull walk, how many versions
// the device was behind when it began.
func (m *Metrics) ObserveDeviceLag(versions int64) { m.deviceLag.Observe(float64(versions)) }

// Text renders the registry in the Prometheus text exposition format.
func (m *Metrics) Text() (string, error) {
	families, err := m.registry.Gather()
	if err != nil {
		return "", fmt.Errorf("metrics: gather: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return "", fmt.Errorf("metrics: encode: %w", err)
		}
	}
	return buf.String(), nil
}

// knownMethods are the methods of RFC 9110 that keep their own label value.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodConnect: true,
	http.MethodOptions: true, http.MethodTrace: true,
}

// MethodLabel is the method as a label value: a known method, else "OTHER".
// Any token is a valid HTTP method, so the raw method as a label let a client
// without a token create a series per request (ten 900 KB methods grew
// /metrics by 150 MB, held until restart).
func MethodLabel(method string) string {
	if knownMethods[method] {
		return method
	}
	return "OTHER"
}

// RouteOf is the label for a request: the route pattern, or "unmatched".
func RouteOf(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return "unmatched"
}
