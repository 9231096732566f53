package middleware

import (
	"fmt"
	"net/http"

	"github.com/klauspost/compress/gzhttp"
	"github.com/labstack/echo/v4"
)

// GzipMinSize is the smallest response body that is compressed: below about
// one packet, gzip saves no round trip and costs CPU and a header.
const GzipMinSize = 1024

// GzipLevel is the compression level of responses. On a 1,000-row page
// (BenchmarkGzipPage_*) klauspost/compress's level 2 costs the CPU of its
// level 1 and half of its default (5), for a body 8% larger than the
// default's: on two cores shared with Postgres, a pull's CPU is worth more
// than the last few kilobytes.
const GzipLevel = 2

// CompressResponses gzips a response body over GzipMinSize when the request's
// Accept-Encoding allows gzip (URLSession asks for it on every request): a
// 1,000-row page shrinks about fivefold (389 KB to 78 KB). The work is gzhttp's
// (klauspost/compress): q-values ("gzip;q=0" refuses it, "identity" and an
// absent header get the plain body, "*" admits gzip as RFC 9110 allows),
// Vary: Accept-Encoding on every response, Content-Length dropped when the
// body is compressed, small bodies buffered and sent plain, Flush passed on.
// HEAD responses are never compressed. zstd stays off: the contract promises
// gzip, and no client of ours asks for zstd.
//
// The strict handlers write their own bodies through c.Response() (the pull
// writes a page it encoded as it read it), so the compressor replaces the
// writer under echo.Response rather than wrapping the handler. An error is
// rendered here, inside the compressor, so that a large envelope (a 400 with
// fifty details) is compressed too; Echo would otherwise render it after
// every middleware returned, with the compressor already closed. The error is
// still returned, for the middleware outside to observe; the response is then
// committed and rendering it again does nothing.
//
// It must run outside Recover, so that a panic arrives here as an error and
// is rendered through the compressor like any other.
func CompressResponses() (echo.MiddlewareFunc, error) {
	return compressResponses(GzipLevel)
}

// compressResponses is CompressResponses at level (the benchmarks try others).
func compressResponses(level int) (echo.MiddlewareFunc, error) {
	wrap, err := gzhttp.NewWrapper(
		gzhttp.MinSize(GzipMinSize),
		gzhttp.CompressionLevel(level),
		gzhttp.EnableZstd(false),
		gzhttp.AcceptWildcards(true),
	)
	if err != nil {
		return nil, fmt.Errorf("gzip responses: %w", err)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.QueryParams().Has("wait") {
				// A live pull may take its connection over from net/http
				// (server/handlers/held.go), under gzhttp's feet; its
				// answers are a few rows.
				return next(c)
			}
			res := c.Response()
			original := res.Writer
			var err error
			wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// gzhttp closes its writer (flushing a buffered small body
				// or the gzip trailer) after this returns; it writes to
				// original itself, so res may have it back already.
				res.Writer = w
				defer func() { res.Writer = original }()
				c.SetRequest(r)
				if err = next(c); err != nil && !res.Committed {
					c.Error(err)
				}
			})).ServeHTTP(original, c.Request())
			return err
		}
	}, nil
}
