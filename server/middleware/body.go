package middleware

import (
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/apierror"
)

// ClientBody marks every error of reading the request body as the client's
// (apierror.BodyUnreadable, a 400). A body that breaks off before its
// Content-Length or stalls past SYNC_READ_TIMEOUT fails with
// io.ErrUnexpectedEOF or a net.Error, the very errors of a database
// connection cut mid-query; unmarked, they read as a 503 "database
// unavailable" logged as a server error. Marking them where they arise is the
// one place that knows which stream failed. It must run before BodyLimit, so
// that the limit's own 413 passes through unmarked.
func ClientBody() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.Body != nil && req.Body != http.NoBody {
				req.Body = clientBody{req.Body}
			}
			return next(c)
		}
	}
}

type clientBody struct{ io.ReadCloser }

func (b clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF { // io.EOF is the end, compared by identity
		err = apierror.BodyUnreadable(err)
	}
	return n, err
}
