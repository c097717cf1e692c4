package comfyui

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeEvent: whatever a server sends on /ws, text or binary, the
// decoder returns an event or an ErrBadEvent, never panics, and the
// fields it fills are consistent with the frame (a preview image is a
// suffix of the frame; Data is valid JSON).
func FuzzDecodeEvent(f *testing.F) {
	f.Add(false, []byte(`{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}, "sid": "x"}}`))
	f.Add(false, []byte(`{"type": "executing", "data": {"node": null, "prompt_id": "p"}}`))
	f.Add(false, []byte(`{"type": "progress", "data": {"value": 1.5, "max": "20", "node": 3}}`))
	f.Add(false, []byte(`{"type": "execution_error", "data": {"node_id": "8", "traceback": ["a", 1]}}`))
	f.Add(true, []byte{0, 0, 0, 1, 0, 0, 0, 2, 0x89, 'P'})
	f.Add(true, []byte{0, 0, 0, 3, 0, 0, 0, 1, '3', 'h', 'i'})
	f.Add(true, []byte{0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, bin bool, msg []byte) {
		ev, err := decodeEvent(bin, msg)
		if err != nil {
			return
		}
		if ev.Type == "" {
			t.Fatal("an event without a type")
		}
		if ev.Data != nil && !json.Valid(ev.Data) {
			t.Fatalf("Data is not JSON: %q", ev.Data)
		}
		if ev.Preview != nil && len(ev.Preview.Image) > len(msg) {
			t.Fatal("a preview larger than its frame")
		}
		if ev.Error != nil {
			_ = ev.Error.Error()
		}
	})
}
