package middleware

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
)

// DecompressRequests accepts a request body sent with Content-Encoding: gzip
// (a client compressing a large push) and hands the handlers the decompressed
// bytes; identity (or no header) passes as is, and any other coding is a 415
// with Accept-Encoding: gzip, as RFC 7694 asks. maxBytes (SYNC_MAX_BODY_BYTES)
// bounds the decompressed bytes as BodyLimit bounds the compressed ones: a
// gzip bomb (10 MB of zeros is 10 KB of gzip) is a 413 once maxBytes have
// come out, never a buffer the size of what it would expand to.
//
// It must run after ClientBody and BodyLimit: their marks on the compressed
// stream (a body that broke off: 400; over the limit: 413) pass through the
// gzip reader unchanged, and every other failure of the gzip reader is the
// body's fault (a 400 saying it is not valid gzip). Nothing is read here: the
// gzip header is read by the first Read, i.e. by the handler, after
// authentication.
func DecompressRequests(maxBytes int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength == 0 || req.Body == nil || req.Body == http.NoBody {
				return next(c)
			}
			gzipped, ok := contentCoding(req.Header.Values(echo.HeaderContentEncoding))
			if !ok {
				c.Response().Header().Set(echo.HeaderAcceptEncoding, "gzip")
				return apierror.New(http.StatusUnsupportedMediaType,
					"send the body uncompressed or as Content-Encoding: gzip",
					apierror.Detail("", -1, echo.HeaderContentEncoding, "must be gzip or identity"))
			}
			if gzipped {
				req.Body = &gunzipBody{compressed: req.Body, limit: maxBytes}
				// What follows sees the JSON body: its length is unknown
				// until it is read, as for a chunked one.
				req.Header.Del(echo.HeaderContentEncoding)
				req.Header.Del(echo.HeaderContentLength)
				req.ContentLength = -1
			}
			return next(c)
		}
	}
}

// contentCoding reads the Content-Encoding field lines: gzipped when the body
// is gzip (x-gzip is its old name, RFC 9110 8.4.1.3), ok false for a coding
// we cannot undo (anything else, or gzip applied twice).
func contentCoding(values []string) (gzipped, ok bool) {
	for _, v := range values {
		for coding := range strings.SplitSeq(v, ",") {
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "", "identity":
			case "gzip", "x-gzip":
				if gzipped {
					return false, false
				}
				gzipped = true
			default:
				return false, false
			}
		}
	}
	return gzipped, true
}

// gunzipBody is a request body decompressed as it is read, at most limit
// bytes of it.
type gunzipBody struct {
	compressed io.ReadCloser
	zr         *gzip.Reader
	limit      int64
	n          int64 // decompressed bytes handed out
	err        error // sticky: a failed gzip stream cannot resume
}

func (b *gunzipBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.zr == nil {
		zr, err := gzip.NewReader(b.compressed)
		if err != nil {
			if err == io.EOF { // not even a gzip header
				err = io.ErrUnexpectedEOF
			}
			b.err = gzipFailure(err)
			return 0, b.err
		}
		b.zr = zr
	}
	// Never decompress more than one byte past the limit: that byte is
	// what tells a body of exactly limit bytes from a larger one.
	if room := b.limit - b.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.zr.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		b.err = apierror.New(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body too large once decompressed (over %d bytes); split the push", b.limit))
		return n, b.err
	}
	if err != nil && err != io.EOF { // io.EOF is the end, compared by identity
		b.err = gzipFailure(err)
		return n, b.err
	}
	return n, err
}

func (b *gunzipBody) Close() error {
	if b.zr != nil {
		b.zr.Close()
	}
	return b.compressed.Close()
}

// gzipFailure is the error of a gzip stream that could not be read. The
// compressed stream's own failures arrive marked (ClientBody, BodyLimit) and
// keep their meaning; anything else is the gzip data's: a bad header, a bad
// checksum, corrupt deflate data, or a stream that ends before its trailer.
// The cause (the library's words) is for the log only.
func gzipFailure(err error) error {
	var he *echo.HTTPError
	if _, marked := apierror.As(err); marked || errors.As(err, &he) {
		return err
	}
	return apierror.BadRequest("the request body is not valid gzip (Content-Encoding: gzip)",
		apierror.Detail("", -1, "", "corrupt or truncated gzip data")).Wrap(err)
}
