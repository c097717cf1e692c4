package authtest

// The Komga fake's API keys: creation, lookup and their DTO.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (k *Komga) createAPIKey(w http.ResponseWriter, r *http.Request, rq *komgaRequest) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		k.bootError(w, r, http.StatusBadRequest, "Failed to read request")
		return
	}
	ct := strings.TrimSpace(r.Header.Get("Content-Type"))
	if ct == "" {
		if len(body) > 0 {
			k.bootError(w, r, http.StatusUnsupportedMediaType, "Content-Type 'application/octet-stream' is not supported.")
			return
		}
	} else if mt, _, err := mime.ParseMediaType(ct); err != nil ||
		!(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		k.bootError(w, r, http.StatusUnsupportedMediaType, "Content-Type '"+ct+"' is not supported.")
		return
	}
	comment, ok := komgaReadComment(body)
	if !ok {
		k.bootError(w, r, http.StatusBadRequest, "Failed to read request")
		return
	}
	if komgaJavaBlank(comment) {
		writeJSON(w, http.StatusBadRequest, komgaViolations{[]komgaViolation{{"comment", "must not be blank"}}})
		return
	}
	comment = strings.TrimSpace(comment)
	for _, key := range k.keys {
		if key.userID == rq.user.id && komgaASCIIEqualFold(key.comment, comment) {
			k.bootError(w, r, http.StatusBadRequest, "ERR_1034")
			return
		}
	}
	plain, key := k.createKey(rq.user, comment)
	writeJSON(w, http.StatusOK, komgaKeyDto(key, plain))
}

// komgaReadComment reads {"comment": ...} as Jackson would into a Kotlin
// data class with a non-null String: unknown fields are ignored, scalars are
// coerced to strings, and a missing or null comment cannot be read.
func komgaReadComment(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return "", false
	}
	raw, ok := obj["comment"]
	if !ok {
		return "", false
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return string(raw), true
	}
	return "", false
}

// komgaJavaBlank reports whether s is blank for Hibernate's @NotBlank, which
// uses Java's String.trim (code points up to U+0020).
func komgaJavaBlank(s string) bool {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' }) == ""
}

func komgaASCIIEqualFold(a, b string) bool {
	lower := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, s)
	}
	return lower(a) == lower(b)
}

func (k *Komga) createKey(u *komgaUser, comment string) (string, *komgaAPIKey) {
	plain := strings.ReplaceAll(uuid4(), "-", "") // Komga's ApiKeyGenerator: a UUIDv4 without dashes
	key := &komgaAPIKey{id: k.newID(), userID: u.id, hash: komgaHashKey(plain), comment: comment, created: k.Clock.Now()}
	k.keys = append(k.keys, key)
	return plain, key
}

type komgaAPIKeyDto struct {
	ID               string `json:"id"`
	UserID           string `json:"userId"`
	Key              string `json:"key"`
	Comment          string `json:"comment"`
	CreatedDate      string `json:"createdDate"`
	LastModifiedDate string `json:"lastModifiedDate"`
}

func komgaKeyDto(key *komgaAPIKey, shown string) komgaAPIKeyDto {
	created := key.created.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
	return komgaAPIKeyDto{ID: key.id, UserID: key.userID, Key: shown, Comment: key.comment,
		CreatedDate: created, LastModifiedDate: created}
}

func (k *Komga) userByKey(plain string) *komgaUser {
	h := komgaHashKey(plain)
	for _, key := range k.keys {
		if hmac.Equal([]byte(key.hash), []byte(h)) {
			return k.userByID(key.userID)
		}
	}
	return nil
}

func komgaHashKey(key string) string {
	sum := sha512.Sum512([]byte(key))
	return hex.EncodeToString(sum[:])
}
