package middleware_test

// What the black-box tests (server/compression_test.go) cannot reach through
// the real routes: a handler that flushes, one that sets its own
// Content-Length, a HEAD, and a panic. Each runs through the real middleware
// and the real error handler.

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/syncproxy/syncproxy/server/apierror"
	"github.com/syncproxy/syncproxy/server/middleware"
)

func compressingEcho(t *testing.T) *echo.Echo {
	t.Helper()
	compress, err := middleware.CompressResponses()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.Use(compress, echomw.RecoverWithConfig(echomw.RecoverConfig{ // the order of server.New
		LogErrorFunc: func(_ echo.Context, err error, _ []byte) error { return err },
	}))
	return e
}

func gzipGET(e *echo.Echo, method, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set(echo.HeaderAcceptEncoding, "gzip")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func gunzipped(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if got := rec.Header().Get(echo.HeaderContentEncoding); got != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", got)
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A handler that flushes (a stream) gets its bytes to the client at the
// flush, compressed, not when it returns.
func TestCompressResponses_FlushReachesTheClient(t *testing.T) {
	e := compressingEcho(t)
	first, second := strings.Repeat("a", 2000), strings.Repeat("b", 2000)
	var rec *httptest.ResponseRecorder
	e.GET("/stream", func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		c.Response().WriteHeader(http.StatusOK)
		if _, err := io.WriteString(c.Response(), first); err != nil {
			return err
		}
		c.Response().Flush()
		if !rec.Flushed || rec.Body.Len() == 0 {
			t.Errorf("after Flush: flushed %v, %d bytes at the client", rec.Flushed, rec.Body.Len())
		}
		_, err := io.WriteString(c.Response(), second)
		return err
	})
	req := httptest.NewRequest(http.MethodGet, "/stream", nil)
	req.Header.Set(echo.HeaderAcceptEncoding, "gzip")
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if got := gunzipped(t, rec); got != first+second {
		t.Fatalf("body = %d bytes, want the %d written", len(got), len(first+second))
	}
}

// A Content-Length the handler set counts the plain bytes: it must go when
// the body is compressed, and stay when the body is too small to be.
func TestCompressResponses_ContentLength(t *testing.T) {
	e := compressingEcho(t)
	e.GET("/:size", func(c echo.Context) error {
		size := c.Param("size")
		n, err := strconv.Atoi(size)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderContentLength, size)
		return c.Blob(http.StatusOK, echo.MIMETextPlain, []byte(strings.Repeat("x", n)))
	})
	small := gzipGET(e, http.MethodGet, "/100")
	if ce, cl := small.Header().Get(echo.HeaderContentEncoding), small.Header().Get(echo.HeaderContentLength); ce != "" || cl != "100" || small.Body.Len() != 100 {
		t.Fatalf("100 bytes: Content-Encoding %q, Content-Length %q, body %d bytes; want plain with its length", ce, cl, small.Body.Len())
	}
	large := gzipGET(e, http.MethodGet, "/5000")
	if cl := large.Header().Get(echo.HeaderContentLength); cl != "" {
		t.Fatalf("5000 bytes gzipped to %d, but Content-Length %s is sent", large.Body.Len(), cl)
	}
	if got := gunzipped(t, large); got != strings.Repeat("x", 5000) {
		t.Fatalf("5000 bytes: another body (%d bytes)", len(got))
	}
}

// HEAD has no body to compress, and nginx once mishandled a gzip HEAD
// (golang.org/issue/5522): the answer is the plain headers.
func TestCompressResponses_HeadPlain(t *testing.T) {
	e := compressingEcho(t)
	e.HEAD("/big", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMETextPlain, []byte(strings.Repeat("x", 5000)))
	})
	rec := gzipGET(e, http.MethodHead, "/big")
	if ce := rec.Header().Get(echo.HeaderContentEncoding); ce != "" || rec.Code != http.StatusOK {
		t.Fatalf("HEAD = %d with Content-Encoding %q", rec.Code, ce)
	}
}

// A panic, recovered inside the compressor, is the envelope's 500 like any
// other error: plain here (it is small), and written once.
func TestCompressResponses_PanicIsTheEnvelope(t *testing.T) {
	e := compressingEcho(t)
	e.GET("/panic", func(echo.Context) error { panic("boom") })
	rec := gzipGET(e, http.MethodGet, "/panic")
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"error":"INTERNAL"`) {
		t.Fatalf("panic = %d: %s", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("the panic's text reached the client: %s", rec.Body.String())
	}
}
