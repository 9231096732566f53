package bench

import "time"

// Result is one run's figures; it is written as bench/results.json.
type Result struct {
	StartedAt time.Time      `json:"startedAt"`
	Seconds   float64        `json:"seconds"`
	Quick     bool           `json:"quick"` // a reduced run: not comparable with the targets
	Machine   Machine        `json:"machine"`
	Setup     Setup          `json:"setup"`
	Push      PushResult     `json:"push"`
	Pull      PullResult     `json:"pull"`
	Devices   DevicesResult  `json:"devices"`
	Paced     DevicesResult  `json:"paced"`
	Compare   CompareResult  `json:"compare"`
	Modes     ModesResult    `json:"modes"`
	Ledger    LedgerResult   `json:"ledger"`
	Attack    AttackResult   `json:"attack"`
	Replicas  ReplicasResult `json:"replicas"`
	Live      LiveResult     `json:"live"`
	Memory    Memory         `json:"memory"`
	Targets   []Target       `json:"targets"`
}

// Machine is where the figures come from.
type Machine struct {
	NProc         int    `json:"nproc"`
	GOMAXPROCS    int    `json:"gomaxprocs"`
	CPUModel      string `json:"cpuModel"`
	Kernel        string `json:"kernel"`
	MemTotalBytes int64  `json:"memTotalBytes"`
	GoVersion     string `json:"goVersion"`
	Postgres      string `json:"postgres"`
	// Durability settings of the Postgres measured: with fsync=off a figure
	// describes our own overhead, not a durable database.
	Fsync             string `json:"fsync"`
	SynchronousCommit string `json:"synchronousCommit"`
	FullPageWrites    string `json:"fullPageWrites"`
	SharedBuffers     string `json:"sharedBuffers"`
	MaxConnections    string `json:"maxConnections"`
}

// Setup is how the server and its database were run.
type Setup struct {
	Database   string `json:"database"` // "throwaway cluster" or "DATABASE_URL"
	DBMaxConns int32  `json:"dbMaxConns"`
	LogLevel   string `json:"logLevel"`
	RateLimit  string `json:"rateLimit"` // SYNC_RATE_LIMIT; "0" is off
	Note       string `json:"note"`
}

// Side is one side (HTTP or raw pgx) of a push comparison.
type Side struct {
	// RowsPerSec is a batch's rows over the median batch time: one stalled
	// batch on a shared machine does not decide the ratio.
	RowsPerSec float64 `json:"rowsPerSec"`
	MedianMs   float64 `json:"medianMs"`
	// TotalRowsPerSec is all rows over the sum of the batch times.
	TotalRowsPerSec float64   `json:"totalRowsPerSec"`
	Seconds         float64   `json:"seconds"`
	BatchMs         []float64 `json:"batchMs"`
}

// PushResult compares pushes over HTTP with the same statement run directly.
type PushResult struct {
	Batches      int     `json:"batches"`
	RowsPerBatch int     `json:"rowsPerBatch"`
	HTTP         Side    `json:"http"`
	Raw          Side    `json:"raw"`
	Ratio        float64 `json:"ratio"` // HTTP rows/s ÷ raw rows/s (medians)
	// Server is the server's own request durations (its access log).
	Server      Side    `json:"server"`
	ServerRatio float64 `json:"serverRatio"`
	Method      string  `json:"method"`
}

// PullRun is a full pull at one page size, HTTP vs raw.
type PullRun struct {
	Limit        int       `json:"limit"`
	HTTPPages    int       `json:"httpPages"`
	RawPages     int       `json:"rawPages"`
	HTTPMs       float64   `json:"httpMs"`   // median of the repetitions, as the client saw it
	ServerMs     float64   `json:"serverMs"` // median of the server's own durations, summed over the pages
	RawMs        float64   `json:"rawMs"`
	Ratio        float64   `json:"ratio"`       // HTTP time ÷ raw time
	ServerRatio  float64   `json:"serverRatio"` // server time ÷ raw time
	HTTPAllMs    []float64 `json:"httpAllMs"`
	ServerAllMs  []float64 `json:"serverAllMs"`
	RawAllMs     []float64 `json:"rawAllMs"`
	BytesPerPull int64     `json:"bytesPerPull"` // response bytes of one full HTTP pull
}

// PullResult compares full pulls over HTTP with the same SELECTs plus encoding.
type PullResult struct {
	Rows   int           `json:"rows"`
	Runs   []PullRun     `json:"runs"`
	Method string        `json:"method"`
	Memory MemoryFigures `json:"memory"` // sampled during the HTTP pulls only
}

// Latency is a distribution of request durations, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"meanMs"`
	P50   float64 `json:"p50Ms"`
	P95   float64 `json:"p95Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

// PoolFigures is how the server's connection pool coped during a phase.
type PoolFigures struct {
	MaxConns          int32   `json:"maxConns"`
	Acquires          int64   `json:"acquires"`
	WaitedAcquires    int64   `json:"waitedAcquires"` // had to wait for a free connection
	MeanAcquireWaitMs float64 `json:"meanAcquireWaitMs"`
}

// DevicesResult is many devices syncing at once.
type DevicesResult struct {
	Devices          int      `json:"devices"`
	Tenants          int      `json:"tenants"`
	DevicesPerTenant int      `json:"devicesPerTenant"`
	Shape            string   `json:"shape"`
	IntervalMs       float64  `json:"intervalMs"` // 0: back to back
	Seconds          float64  `json:"seconds"`
	Requests         int      `json:"requests"`
	RequestsPerSec   float64  `json:"requestsPerSec"`
	Pushes           int      `json:"pushes"`
	Pulls            int      `json:"pulls"`
	RowsPushed       int      `json:"rowsPushed"`
	RowsPulled       int      `json:"rowsPulled"`
	Errors           int      `json:"errors"`
	ErrorSamples     []string `json:"errorSamples,omitempty"`
	Latency          Latency  `json:"latency"`
	PushLatency      Latency  `json:"pushLatency"`
	PullLatency      Latency  `json:"pullLatency"`
	// ServerLatency is the server's own durations (its access log): without
	// the time a request waits for the client's goroutine to be scheduled.
	ServerLatency Latency       `json:"serverLatency"`
	Pool          PoolFigures   `json:"pool"`
	Memory        MemoryFigures `json:"memory"`
}

// ModesResult compares, in one run on a direct connection, the ways the
// server can send its statements: the pooler-safe default against named
// prepared statements (see modeVariants).
type ModesResult struct {
	Shape        string    `json:"shape"`
	Devices      int       `json:"devices"`
	SliceSeconds float64   `json:"sliceSeconds"`
	Rounds       int       `json:"rounds"`
	Runs         []ModeRun `json:"runs"`
}

// ModeRun is one server of the modes phase, over all its slices.
type ModeRun struct {
	Name                  string   `json:"name"`
	ExecMode              string   `json:"execMode"`
	TimeoutPerTransaction bool     `json:"timeoutPerTransaction"`
	Note                  string   `json:"note"`
	Seconds               float64  `json:"seconds"`
	Requests              int      `json:"requests"`
	RequestsPerSec        float64  `json:"requestsPerSec"`
	Ratio                 float64  `json:"ratio"` // requests/s ÷ the default's
	Errors                int      `json:"errors"`
	ErrorSamples          []string `json:"errorSamples,omitempty"`
	Latency               Latency  `json:"latency"`

	lat []time.Duration
}

// MemoryFigures are the process's memory while a phase ran, sampled every 50 ms.
type MemoryFigures struct {
	Samples            int     `json:"samples"`
	BaselineRSSBytes   int64   `json:"baselineRssBytes"` // after a GC, before the phase
	PeakRSSBytes       int64   `json:"peakRssBytes"`
	PeakHeapInuseBytes uint64  `json:"peakHeapInuseBytes"`
	AllocatedBytes     uint64  `json:"allocatedBytes"` // total Go allocations during the phase
	NumGC              uint32  `json:"numGC"`
	PeakRSSMiB         float64 `json:"peakRssMiB"`
}

// Memory is process-wide: the server, the bench's clients and the raw side
// share one process, so every figure is an upper bound for the server alone.
type Memory struct {
	ProcessVmHWMBytes int64  `json:"processVmHWMBytes"`
	Note              string `json:"note"`
}

// Target is one goal of the issue and whether this run reached it.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// CompareResult is the closed-loop devices against another version of the
// server (Before) and this build (After) in the same run: both run as
// separate processes on the same cluster, alternating rounds.
type CompareResult struct {
	Before      CompareSide `json:"before"`
	After       CompareSide `json:"after"`
	Ratio       float64     `json:"ratio"`     // After requests/s ÷ Before requests/s (closed-loop devices)
	PushRatio   float64     `json:"pushRatio"` // After push rows/s ÷ Before push rows/s
	Rounds      int         `json:"rounds"`
	RoundSecond float64     `json:"roundSeconds"`
	Method      string      `json:"method"`
}

// CompareSide is one server version's figures over all its rounds.
type CompareSide struct {
	Label          string   `json:"label"`
	Binary         string   `json:"binary"`
	Requests       int      `json:"requests"`
	Seconds        float64  `json:"seconds"`
	RequestsPerSec float64  `json:"requestsPerSec"`
	Latency        Latency  `json:"latency"`
	Errors         int      `json:"errors"`
	ErrorSamples   []string `json:"errorSamples,omitempty"`
	PushRowsPerSec float64  `json:"pushRowsPerSec"` // 1,000-row pushes of new rows, median batch
}

// AttackResult is the attacks of issue 17 replayed against server processes
// of their own, one fresh process per attack.
type AttackResult struct {
	Method string      `json:"method"`
	Runs   []AttackRun `json:"runs"`
}

// AttackRun is one attack against one server.
type AttackRun struct {
	Server           string   `json:"server"`
	ThisBuild        bool     `json:"thisBuild"`
	Attack           string   `json:"attack"`
	Request          string   `json:"request"`
	Answers          []string `json:"answers"` // "3 × 409 (8.0 MiB)"
	BaselineRSSBytes int64    `json:"baselineRssBytes"`
	PeakRSSBytes     int64    `json:"peakRssBytes"` // the process's VmHWM after the attack
	PeakRSSMiB       float64  `json:"peakRssMiB"`
	Seconds          float64  `json:"seconds"`
}
