package authclient

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The error-body decoder as it was before its one-pass rewrite (json.RawMessage
// fields decoded a second time), kept as the oracle of FuzzErrorBodyOnePass.

type refErrorBody struct {
	Status     json.RawMessage `json:"status"` // Spring Boot's shape has it; its "error" is then only the reason phrase
	Message    *string         `json:"message"`
	Error      json.RawMessage `json:"error"`
	Detail     json.RawMessage `json:"detail"`
	Violations []struct {
		FieldName string `json:"fieldName"`
		Message   string `json:"message"`
	} `json:"violations"`
}

func refRawErrorBody(contentType string, body []byte) (message, code string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", ""
	}
	if body[0] == '{' {
		var eb refErrorBody
		if json.Unmarshal(body, &eb) == nil {
			return refFromErrorBody(&eb)
		}
	}
	if bytes.HasPrefix(body, []byte("<")) {
		return htmlText(body), ""
	}
	if strings.Contains(contentType, "html") && bytes.Contains(body, []byte("</")) {
		return htmlText(body), ""
	}
	if strings.Contains(contentType, "json") || body[0] == '[' || body[0] == '{' {
		return "", ""
	}
	return string(body), ""
}

func refFromErrorBody(eb *refErrorBody) (message, code string) {
	if len(eb.Violations) > 0 {
		parts := make([]string, 0, len(eb.Violations))
		for _, v := range eb.Violations {
			if v.FieldName != "" {
				parts = append(parts, v.FieldName+": "+v.Message)
			} else {
				parts = append(parts, v.Message)
			}
		}
		return strings.Join(parts, "; "), ""
	}
	var errText string
	if len(eb.Error) > 0 {
		var s string
		var obj struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(eb.Error, &s) == nil:
			errText = s
		case json.Unmarshal(eb.Error, &obj) == nil:
			code = obj.Type
			errText = obj.Message
		}
	}
	switch {
	case eb.Message != nil && *eb.Message != "":
		message = *eb.Message
		if code == "" && errText != "" && errText != message && len(eb.Status) == 0 {
			// ComfyUI's 401: {"error": "Unauthorized", "message": "Invalid or missing API key…"}.
			code = errText
		}
	case errText != "":
		message = errText
	case len(eb.Detail) > 0:
		message = detailText(eb.Detail)
	}
	if code == "" && isKomgaCode(message) {
		code = message
	}
	return message, code
}

// FuzzErrorBodyOnePass: rawErrorBody, which decodes the error shapes in one
// pass, finds the same message and code as the two-pass decoder it
// replaced, for every body: the seeds are the servers' real error bodies
// (FuzzParseErrorBody's corpus) and the class of edge cases of the shapes:
// null, duplicated, mistyped and differently cased fields, escapes and
// invalid UTF-8 in strings.
func FuzzErrorBodyOnePass(f *testing.F) {
	for _, s := range []string{
		`{"message":"x","status":400}`, `{"message":null,"error":"e"}`, `{"message":"a","message":null,"error":"e"}`,
		`{"message":5,"error":"e"}`, `{"Message":"cased","ERROR":"E"}`, `{"error":null,"message":"m"}`,
		`{"error":{"type":"t","message":"m"}}`, `{"error":{"type":1}}`, `{"error":["x"],"message":"m"}`,
		`{"error":"Unauthorized","message":"Invalid or missing API key"}`, `{"status":null,"error":"a","message":"b"}`,
		`{"error":"a\u00e9\n","message":"b\"q"}`, "{\"error\":\"bad\xff\"}", `{"error":"a","error":{"type":"t","message":"m"}}`,
		`{"detail":"d"}`, `{"detail":[{"loc":[1,"a"],"msg":"m"}]}`, `{"violations":[{"fieldName":"a","message":"b"}]}`,
		`{"violations":5}`, `{"message":"ERR_1234"}`, `{"message":""}`, `{`, `{"message":"x"} trailing`,
	} {
		f.Add("application/json", []byte(s))
	}
	if files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParseErrorBody", "*")); err == nil {
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				continue
			}
			// go test fuzz v1 / string(content type) / []byte(body)
			lines := strings.Split(string(data), "\n")
			if len(lines) < 3 {
				continue
			}
			ctype, ok1 := unquoteCorpus(lines[1], "string(")
			body, ok2 := unquoteCorpus(lines[2], "[]byte(")
			if ok1 && ok2 {
				f.Add(ctype, []byte(body))
			}
		}
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		msg, code := rawErrorBody(ctype, body)
		wantMsg, wantCode := refRawErrorBody(ctype, body)
		if msg != wantMsg || code != wantCode {
			t.Fatalf("rawErrorBody(%q) = %q, %q; the two-pass decoder found %q, %q", body, msg, code, wantMsg, wantCode)
		}
	})
}

// unquoteCorpus reads one value line of a fuzz corpus file.
func unquoteCorpus(line, prefix string) (string, bool) {
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, ")") {
		return "", false
	}
	s, err := strconv.Unquote(line[len(prefix) : len(line)-1])
	return s, err == nil
}

// FuzzDecodeErrorBody: decodeErrorBody's walk decodes any JSON object (and
// anything else) into the very errorBody json.Unmarshal makes of it, and
// fails where Unmarshal fails.
func FuzzDecodeErrorBody(f *testing.F) {
	for _, s := range []string{
		`{"timestamp":"2025-11-23T02:27:00.000+00:00","status":401,"error":"Unauthorized","message":"Unauthorized","path":"/api/v1/series"}`,
		`{"error":"Unauthorized","message":"Invalid or missing API key"}`,
		`{"error":{"type":"prompt_outputs_failed_validation","message":"m","details":"d"},"node_errors":{}}`,
		`{"detail":[{"loc":["body","q"],"msg":"field required"}]}`, `{"detail":"Not Found"}`, `{"detail":null}`,
		`{"violations":[{"fieldName":"name","message":"must not be blank"},null]}`, `{"violations":"x"}`,
		`{"MESSAGE":"a","Message":"b"}`, `{"message":1}`, `{"message":null,"status":null}`, `{"mess\u0061ge":"esc"}`,
		`{"méssage":"x"}`, "{\"\u017ftatus\":1}", `{"message":"a\"b\\","error":[1,{"x":"}"}]}`, `{}`, ` { } `,
		`{"a":{"b":[1,2,{"c":"]"}]},"message":"after"}`, `{"message":"x"} trailing`, `{"message":"x",}`,
		`{"status":401,"error":"Unauthorized"}`, "{\"message\":\"\xff\"}", `{"message":"tab\tin"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) == 0 || body[0] != '{' {
			return // the caller decodes objects only
		}
		var want, got errorBody
		wok := json.Unmarshal(body, &want) == nil
		gok := decodeErrorBody(body, &got)
		if wok != gok {
			t.Fatalf("%q: json.Unmarshal ok %v, decodeErrorBody ok %v", body, wok, gok)
		}
		if !wok {
			return
		}
		if want.Detail == nil && got.Detail != nil || want.Detail != nil && !bytes.Equal(want.Detail, got.Detail) {
			t.Fatalf("%q: detail %q, want %q", body, got.Detail, want.Detail)
		}
		want.Detail, got.Detail = nil, nil
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%q:\ndecodeErrorBody %+v\njson.Unmarshal  %+v", body, got, want)
		}
	})
}
