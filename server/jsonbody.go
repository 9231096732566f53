package server

import (
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/syncproxy/syncproxy/server/pushbody"
	"github.com/syncproxy/syncproxy/wire"
	"github.com/syncproxy/syncproxy/wire/push"
)

// jsonBodies is Echo's JSON serializer, whose request side is the push
// decoder compiled from the spec: it validates a push body as it reads it,
// once (the generated strict handler binds the body through here). The push
// is the spec's only operation with a request body; another one gets no
// unvalidated fallback but a 500 naming what is missing.
type jsonBodies struct {
	push *pushbody.Decoder
}

// Serialize writes every body Echo renders (the error envelopes, a 409's
// rows among them) without encoding/json's HTML escaping (see wire.Marshal).
func (jsonBodies) Serialize(c echo.Context, i any, indent string) error {
	enc := wire.NewJSONEncoder(c.Response())
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}

func (j jsonBodies) Deserialize(c echo.Context, i any) error {
	body, ok := i.(*push.Body)
	if !ok {
		return fmt.Errorf("no decoder for a %T request body: compile one from the spec, as server/pushbody does for the push", i)
	}
	return j.push.Decode(c.Request().Body, body)
}

var _ echo.JSONSerializer = jsonBodies{}
