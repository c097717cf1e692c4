package comfyui

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/selfhost-sdk/authclient"
)

// SystemStats is a subset of ComfyUI's GET /system_stats.
type SystemStats struct {
	// OS is the operating system ("linux", "nt", "darwin").
	OS string
	// ComfyUIVersion, PythonVersion and PyTorchVersion are the versions
	// the server runs.
	ComfyUIVersion, PythonVersion, PyTorchVersion string
	// RAMTotal and RAMFree are the machine's memory in bytes.
	RAMTotal, RAMFree int64
	// Devices are the torch devices, the primary one first.
	Devices []Device
}

// Device is a torch device of a ComfyUI server, from [Client.SystemStats].
type Device struct {
	// Name is the device's description ("cuda:0 NVIDIA GeForce RTX 4090 :
	// cudaMallocAsync", "cpu"); Type its kind ("cuda", "cpu", "mps").
	Name, Type string
	// Index is the device index (0 for the CPU, which has none).
	Index int
	// VRAMTotal and VRAMFree are in bytes (the system memory for the CPU).
	VRAMTotal, VRAMFree int64
}

// SystemStats returns ComfyUI's system and device information (GET
// /system_stats), read tolerantly: a field of the wrong type reads as its
// zero value, and a device that is not an object is skipped.
func (c *Client) SystemStats(ctx context.Context) (*SystemStats, error) {
	var d struct {
		System struct {
			OS             string `json:"os"`
			RAMTotal       number `json:"ram_total"`
			RAMFree        number `json:"ram_free"`
			ComfyUIVersion string `json:"comfyui_version"`
			PythonVersion  string `json:"python_version"`
			PyTorchVersion string `json:"pytorch_version"`
		} `json:"system"`
		Devices []json.RawMessage `json:"devices"`
	}
	if err := c.do(ctx, http.MethodGet, "system_stats", nil, &lenient{&d}); err != nil {
		return nil, err
	}
	s := &SystemStats{OS: d.System.OS, ComfyUIVersion: d.System.ComfyUIVersion, PythonVersion: d.System.PythonVersion,
		PyTorchVersion: d.System.PyTorchVersion, RAMTotal: int64(d.System.RAMTotal), RAMFree: int64(d.System.RAMFree),
		Devices: []Device{}}
	for _, raw := range d.Devices {
		var dev struct {
			Name      string `json:"name"`
			Type      string `json:"type"`
			Index     number `json:"index"`
			VRAMTotal number `json:"vram_total"`
			VRAMFree  number `json:"vram_free"`
		}
		if !isObject(raw) || json.Unmarshal(raw, &lenient{&dev}) != nil {
			continue
		}
		s.Devices = append(s.Devices, Device{Name: dev.Name, Type: dev.Type, Index: int(dev.Index),
			VRAMTotal: int64(dev.VRAMTotal), VRAMFree: int64(dev.VRAMFree)})
	}
	return s, nil
}

// Interrupt stops ComfyUI's execution (POST /interrupt). With a promptID it stops
// that prompt only if it is the one running (otherwise nothing happens);
// with "" it stops whatever runs. Queued prompts stay queued. It is never
// retried: a repeated global interrupt could stop the next prompt.
func (c *Client) Interrupt(ctx context.Context, promptID string) error {
	var in any // no body: stop whatever runs
	if promptID != "" {
		in = map[string]string{"prompt_id": promptID}
	}
	return c.do(ctx, http.MethodPost, "interrupt", in, nil, authclient.NoRetry())
}
