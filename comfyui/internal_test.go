package comfyui

// White-box tests of the tolerant parsers, and their fuzz target (which
// needs the parser itself). The operations are tested black-box in
// comfyui_test.go.

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQueueItemsTolerant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want []QueueItem
	}{
		{`[[3, "a", {}, {"client_id": "c"}, ["9"]]]`, []QueueItem{{3, "a", "c"}}},
		{`[[3.0, "a", {}, {}, [], {"sensitive": 1}, "extra"]]`, []QueueItem{{3, "a", ""}}},
		{`[[-7.9, "a"]]`, []QueueItem{{-7, "a", ""}}},
		{`[["12", "a"]]`, []QueueItem{{12, "a", ""}}},
		{`[[1, "a", {}, "not an object"]]`, []QueueItem{{1, "a", ""}}},
		{`[[1, "a", {}, {"client_id": 5}]]`, []QueueItem{{1, "a", ""}}},
		{`[[1], [1, 2], ["x", "a"], [1, ""], {}, null, 5, [null, "a"], [1, "ok"]]`, []QueueItem{{1, "ok", ""}}},
		{`[[1e300, "big"]]`, []QueueItem{}}, // a number no queue holds: malformed
		{`{}`, []QueueItem{}},
		{`null`, []QueueItem{}},
		{``, []QueueItem{}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, queueItems(json.RawMessage(tt.raw)), tt.raw)
	}
}

func FuzzQueueItems(f *testing.F) {
	f.Add(`[[0, "6f1c", {"3": {}}, {"client_id": "x", "create_time": 1}, ["9"]]]`)
	f.Add(`[[1.5, "a"], [2, "b", null, null, null, null]]`)
	f.Add(`[[], [1], "x", [1e999, "a"], [true, "b"]]`)
	f.Add(`{"queue_running": []}`)
	f.Add(`[[1, "a", {}, {"client_id": ["nested"]}]]`)
	f.Fuzz(func(t *testing.T, raw string) {
		items := queueItems(json.RawMessage(raw))
		require.NotNil(t, items)
		var list []json.RawMessage
		if json.Unmarshal([]byte(raw), &list) != nil {
			require.Empty(t, items)
		}
		require.LessOrEqual(t, len(items), len(list))
		for _, it := range items {
			require.NotEmpty(t, it.PromptID)
		}
	})
}

var uuid4Pattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestUUID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		id := newUUID4()
		require.Regexp(t, uuid4Pattern, id)
		require.True(t, isCanonicalUUID(id))
		require.False(t, seen[id])
		seen[id] = true
	}
	for s, want := range map[string]bool{
		"0b5d7c2e-3f1a-4c6b-9d8e-7a6b5c4d3e2f":   true,
		"00000000-0000-0000-0000-000000000000":   true,
		"0B5D7C2E-3F1A-4C6B-9D8E-7A6B5C4D3E2F":   false,
		"0b5d7c2e3f1a4c6b9d8e7a6b5c4d3e2f":       false,
		"0b5d7c2e-3f1a-4c6b-9d8e-7a6b5c4d3e2":    false,
		"0b5d7c2e-3f1a-4c6b-9d8e-7a6b5c4d3e2g":   false,
		"0b5d7c2e_3f1a-4c6b-9d8e-7a6b5c4d3e2f":   false,
		"{0b5d7c2e-3f1a-4c6b-9d8e-7a6b5c4d3e2f}": false,
		"":                                       false,
	} {
		assert.Equal(t, want, isCanonicalUUID(s), s)
	}
}

func TestValidationSummary(t *testing.T) {
	t.Parallel()
	short := &ValidationError{Nodes: []NodeError{{NodeID: "1", Message: "m"}, {NodeID: "2", Message: "m"},
		{NodeID: "3", Message: "m"}, {NodeID: "4", Message: "m"}, {NodeID: "5", Message: "m"}}}
	assert.Equal(t, "node 1: m; node 2: m; node 3: m; and 2 more node(s)", short.summary())
	assert.Equal(t, "Node ID '#3'", (&ValidationError{Details: "Node ID\n '#3'"}).summary())
	assert.Empty(t, validationHint([]byte(`{"error": "Unauthorized"}`)), "not a prompt refusal: no hint")
	assert.Empty(t, validationHint([]byte(`not json`)))
}
