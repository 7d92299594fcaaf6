package imageio_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/imageio"
)

func TestMarshalConfigStartInterval(t *testing.T) {
	cf := &v1.ConfigFile{OS: "linux", Architecture: "amd64", Config: v1.Config{
		// A label named after the key, whose value holds the object's
		// text: only the healthcheck itself may change.
		Labels:      map[string]string{"Healthcheck": `{"Test":["CMD","true"],"Interval":10000000000}`},
		Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "true"}, Interval: 10 * time.Second, Retries: 3},
	}}
	plain, err := json.Marshal(cf)
	if err != nil {
		t.Fatal(err)
	}
	same, err := imageio.MarshalConfig(cf, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(plain), string(same)); diff != "" {
		t.Errorf("without a start interval the config is not json.Marshal's (-want +got):\n%s", diff)
	}
	raw, err := imageio.MarshalConfig(cf, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := imageio.StartIntervalOf(raw); got != 2*time.Second {
		t.Errorf("StartIntervalOf = %v, want 2s", got)
	}
	// Docker's names and order, with the rest of the config unchanged.
	var back struct {
		Config struct {
			Labels      map[string]string
			Healthcheck json.RawMessage
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	want := `{"Test":["CMD","true"],"Interval":10000000000,"StartInterval":2000000000,"Retries":3}`
	if diff := cmp.Diff(want, string(back.Config.Healthcheck)); diff != "" {
		t.Errorf("healthcheck (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(cf.Config.Labels, back.Config.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	var parsed v1.ConfigFile
	if err := json.Unmarshal(raw, &parsed); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*cf, parsed); diff != "" {
		t.Errorf("the config read back by ggcr (-want +got):\n%s", diff)
	}

	// A test whose text json.Marshal escapes (& < >) and quotes: the
	// healthcheck is still found, and the result is valid JSON.
	cf.Config.Healthcheck = &v1.HealthConfig{Test: []string{"CMD-SHELL", `curl -f "http://x/?a=1&b=2" || exit 1 </dev/null`}, Timeout: time.Second}
	raw, err = imageio.MarshalConfig(cf, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) {
		t.Fatalf("not JSON: %s", raw)
	}
	if got := imageio.StartIntervalOf(raw); got != time.Second {
		t.Errorf("StartIntervalOf with an escaped test = %v, want 1s", got)
	}
	parsed = v1.ConfigFile{}
	if err := json.Unmarshal(raw, &parsed); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*cf, parsed); diff != "" {
		t.Errorf("the config with an escaped test read back by ggcr (-want +got):\n%s", diff)
	}

	// Without a healthcheck there is nothing to write it into.
	cf.Config.Healthcheck = nil
	none, err := imageio.MarshalConfig(cf, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := imageio.StartIntervalOf(none); got != 0 {
		t.Errorf("StartIntervalOf a config without healthcheck = %v, want 0", got)
	}
}
