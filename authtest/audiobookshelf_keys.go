package authtest

// The Audiobookshelf fake's API keys (/api/api-keys).

import (
	"net/http"
	"time"
)

func (st *absState) keyByID(id string) *absAPIKey {
	for _, k := range st.keys {
		if k.id == id {
			return k
		}
	}
	return nil
}

// createAPIKey stores a key and returns its JWT. expiresIn is in seconds
// (0: never).
func (st *absState) createAPIKey(owner, creator *absUser, name string, expiresIn float64, active bool, now time.Time) (string, *absAPIKey) {
	k := &absAPIKey{id: uuid4(), name: name, userID: owner.id, active: active, createdAt: now, updatedAt: now}
	if creator != nil {
		k.createdByUserID = creator.id
	}
	claims := absClaims{KeyID: k.id, Name: name, Type: "api", Iat: now.Unix()}
	if expiresIn > 0 {
		exp := float64(now.Unix()) + expiresIn
		claims.Exp = &exp
		t := now.Add(time.Duration(expiresIn * float64(time.Second)))
		k.expiresAt = &t
	}
	st.keys = append(st.keys, k)
	return absSign(st.secret, claims), k
}

type absKeyCreatedJSON struct {
	APIKey          string        `json:"apiKey"`
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	ExpiresAt       *string       `json:"expiresAt"`
	UserID          string        `json:"userId"`
	IsActive        bool          `json:"isActive"`
	CreatedByUserID *string       `json:"createdByUserId"`
	UpdatedAt       string        `json:"updatedAt"`
	CreatedAt       string        `json:"createdAt"`
	User            *absUserBrief `json:"user"`
}

type absKeyRowJSON struct {
	ID              string  `json:"id"`
	Name            string  `json:"name"`
	Description     *string `json:"description"`
	ExpiresAt       *string `json:"expiresAt"`
	LastUsedAt      *string `json:"lastUsedAt"`
	IsActive        bool    `json:"isActive"`
	Permissions     any     `json:"permissions"`
	CreatedAt       string  `json:"createdAt"`
	UpdatedAt       string  `json:"updatedAt"`
	UserID          string  `json:"userId"`
	CreatedByUserID *string `json:"createdByUserId"`
	User            any     `json:"user"`
}

type absKeyListJSON struct {
	absKeyRowJSON
	CreatedByUser *absUserBrief `json:"createdByUser"`
}

func (st *absState) keyRow(k *absAPIKey) absKeyRowJSON {
	row := absKeyRowJSON{ID: k.id, Name: k.name, IsActive: k.active, CreatedAt: absISO(k.createdAt),
		UpdatedAt: absISO(k.updatedAt), UserID: k.userID}
	if k.expiresAt != nil {
		s := absISO(*k.expiresAt)
		row.ExpiresAt = &s
	}
	if st.userByID(k.createdByUserID) != nil {
		id := k.createdByUserID
		row.CreatedByUserID = &id
	}
	if u := st.userByID(k.userID); u != nil {
		row.User = absBrief(u)
	}
	return row
}

func absAdminOrUp(u *absUser) bool { return u.typ == "root" || u.typ == "admin" }

func (st *absState) hListKeys(q *absReq) *absResp {
	if !absAdminOrUp(q.user) {
		return absStatus(http.StatusForbidden)
	}
	list := make([]absKeyListJSON, 0, len(st.keys))
	for _, k := range st.keys {
		list = append(list, absKeyListJSON{absKeyRowJSON: st.keyRow(k), CreatedByUser: absBrief(st.userByID(k.createdByUserID))})
	}
	return absJSON(http.StatusOK, map[string]any{"apiKeys": list})
}

func (st *absState) hCreateKey(q *absReq) *absResp {
	if !absAdminOrUp(q.user) {
		return absStatus(http.StatusForbidden)
	}
	name, ok := q.body["name"].(string)
	if !ok || name == "" {
		return absStatus(http.StatusBadRequest)
	}
	userID, ok := q.body["userId"].(string)
	if !ok || userID == "" {
		return absStatus(http.StatusBadRequest)
	}
	var expiresIn float64
	if v := q.body["expiresIn"]; absTruthy(v) {
		f, isNum := v.(float64)
		if !isNum || f <= 0 {
			return absStatus(http.StatusBadRequest)
		}
		expiresIn = f
	}
	owner := st.userByID(userID)
	if owner == nil {
		return absStatus(http.StatusBadRequest)
	}
	if owner.typ == "root" && q.user.typ != "root" {
		return absStatus(http.StatusForbidden)
	}
	jwt, k := st.createAPIKey(owner, q.user, name, expiresIn, absTruthy(q.body["isActive"]), q.now)
	row := st.keyRow(k)
	return absJSON(http.StatusOK, map[string]any{"apiKey": absKeyCreatedJSON{
		APIKey: jwt, ID: k.id, Name: k.name, ExpiresAt: row.ExpiresAt, UserID: k.userID, IsActive: k.active,
		CreatedByUserID: row.CreatedByUserID, UpdatedAt: row.UpdatedAt, CreatedAt: row.CreatedAt, User: absBrief(owner),
	}})
}

func (st *absState) hUpdateKey(q *absReq) *absResp {
	if !absAdminOrUp(q.user) {
		return absStatus(http.StatusForbidden)
	}
	k := st.keyByID(q.params[0])
	if k == nil {
		return absStatus(http.StatusNotFound)
	}
	owner := st.userByID(k.userID)
	if owner != nil && owner.typ == "root" && q.user.typ != "root" {
		return absStatus(http.StatusForbidden)
	}
	active, newOwner := k.active, owner
	if v, ok := q.body["isActive"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return absStatus(http.StatusBadRequest)
		}
		active = b
	}
	if v, ok := q.body["userId"]; ok {
		id, isStr := v.(string)
		if !isStr {
			return absStatus(http.StatusBadRequest)
		}
		if newOwner = st.userByID(id); newOwner == nil {
			return absStatus(http.StatusBadRequest)
		}
		if newOwner.typ == "root" && q.user.typ != "root" {
			return absStatus(http.StatusForbidden)
		}
	}
	changed := active != k.active || newOwner != owner
	if changed {
		k.active, k.updatedAt = active, q.now
		if newOwner != nil {
			k.userID = newOwner.id
		}
	}
	row := st.keyRow(k)
	if !changed && owner != nil {
		row.User = absUserToRow(owner) // quirk: the full user row when nothing changed
	}
	return absJSON(http.StatusOK, map[string]any{"apiKey": row})
}

func (st *absState) hDeleteKey(q *absReq) *absResp {
	if !absAdminOrUp(q.user) {
		return absStatus(http.StatusForbidden)
	}
	for i, k := range st.keys {
		if k.id == q.params[0] {
			st.keys = append(st.keys[:i], st.keys[i+1:]...)
			return absStatus(http.StatusOK)
		}
	}
	return absStatus(http.StatusNotFound)
}
