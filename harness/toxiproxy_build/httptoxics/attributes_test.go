// Tests of attribute handling through the same JSON Toxiproxy's API takes:
// invalid values are rejected (HTTP 400 from the API), defaults are shown.

package httptoxics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestInvalidAttributesAreRejected(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	for _, tc := range []struct{ typ, attrs string }{
		{"http_error", `{"rate":-0.1}`},
		{"http_error", `{"rate":1.5}`},
		{"http_error", `{"rate":"half"}`},
		{"http_error", `{"status":200}`},
		{"http_error", `{"status":600}`},
		{"http_error", `{"seed":1.5}`},
		{"http_error", `{"statuss":503}`},
		{"http_delay", `{"delay":-1}`},
		{"http_delay", `{"delay":600001}`},
		{"http_delay", `{"latency":100}`},
		{"http_malformed", `{"mode":"bogus"}`},
		{"http_malformed", `{"mode":""}`},
	} {
		body := fmt.Sprintf(`{"name":"bad","type":%q,"attributes":%s}`, tc.typ, tc.attrs)
		_, err := proxy.Toxics.AddToxicJson(strings.NewReader(body))
		if err == nil || !strings.Contains(err.Error(), "bad request body: attributes:") {
			t.Errorf("%s %s: got error %v", tc.typ, tc.attrs, err)
		}
	}
	if toxics := proxy.Toxics.GetToxicArray(); len(toxics) != 0 {
		t.Fatalf("rejected toxics were added: %v", toxics)
	}
}

func TestDefaultsAndLimitsAreAccepted(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	for _, tc := range []struct{ typ, attrs, shown string }{
		{"http_error", `{}`, `{"rate":1,"seed":0,"status":503}`},
		{"http_error", `{"rate":0,"seed":-9,"status":599}`, `{"rate":0,"seed":-9,"status":599}`},
		{"http_delay", `{}`, `{"rate":1,"seed":0,"delay":1000}`},
		{"http_delay", `{"delay":600000,"rate":0.25}`, `{"rate":0.25,"seed":0,"delay":600000}`},
		{"http_malformed", `{}`, `{"rate":1,"seed":0,"mode":"truncate"}`},
		{"http_malformed", `{"mode":"wrong_type"}`, `{"rate":1,"seed":0,"mode":"wrong_type"}`},
	} {
		body := fmt.Sprintf(`{"name":"ok","type":%q,"attributes":%s}`, tc.typ, tc.attrs)
		wrapper, err := proxy.Toxics.AddToxicJson(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s %s: %v", tc.typ, tc.attrs, err)
		}
		shown, _ := json.Marshal(wrapper.Toxic)
		if string(shown) != tc.shown {
			t.Errorf("%s %s shown as %s, want %s", tc.typ, tc.attrs, shown, tc.shown)
		}
		if wrapper.Stream != "downstream" || wrapper.Toxicity != 1 {
			t.Errorf("%s: stream %q toxicity %v", tc.typ, wrapper.Stream, wrapper.Toxicity)
		}
		if err := proxy.Toxics.RemoveToxic(context.Background(), "ok"); err != nil {
			t.Fatal(err)
		}
	}
}
