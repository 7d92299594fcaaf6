package imageio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// healthConfig is Docker's HealthConfig, with the StartInterval that
// ggcr's v1.HealthConfig lacks, its fields in Docker's order.
type healthConfig struct {
	Test          []string      `json:",omitempty"`
	Interval      time.Duration `json:",omitempty"`
	Timeout       time.Duration `json:",omitempty"`
	StartPeriod   time.Duration `json:",omitempty"`
	StartInterval time.Duration `json:",omitempty"`
	Retries       int           `json:",omitempty"`
}

// MarshalConfig is json.Marshal of cf with startInterval written as its
// healthcheck's StartInterval, where Docker writes HEALTHCHECK
// --start-interval. Without a healthcheck or a start interval the bytes
// are json.Marshal's, so no digest changes.
func MarshalConfig(cf *v1.ConfigFile, startInterval time.Duration) ([]byte, error) {
	raw, err := json.Marshal(cf)
	hc := cf.Config.Healthcheck
	if err != nil || startInterval == 0 || hc == nil {
		return raw, err
	}
	old, err := json.Marshal(hc)
	if err != nil {
		return nil, err
	}
	with, err := json.Marshal(healthConfig{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout,
		StartPeriod: hc.StartPeriod, StartInterval: startInterval, Retries: hc.Retries})
	if err != nil {
		return nil, err
	}
	// The key and its object can occur once only: a string that held them
	// would have its quotes escaped, and a label named Healthcheck has a
	// string for its value.
	key := []byte(`"Healthcheck":`)
	at := bytes.Index(raw, append(key, old...))
	if at < 0 {
		return nil, fmt.Errorf("writing the healthcheck's start interval: no healthcheck in the marshalled config")
	}
	at += len(key)
	out := make([]byte, 0, len(raw)+len(with)-len(old))
	out = append(out, raw[:at]...)
	out = append(out, with...)
	return append(out, raw[at+len(old):]...), nil
}

// StartIntervalOf reads the healthcheck's StartInterval of a raw image
// config (zero where it has none, or the config cannot be read: reading
// the rest of it reports that).
func StartIntervalOf(raw []byte) time.Duration {
	var c struct {
		Config struct {
			Healthcheck *healthConfig
		} `json:"config"`
	}
	if json.Unmarshal(raw, &c) != nil || c.Config.Healthcheck == nil {
		return 0
	}
	return c.Config.Healthcheck.StartInterval
}
