package authtest

// The Khoj fake's API tokens (/auth/token) and their default names.

import (
	"net/http"
	"unicode/utf8"
)

func (st *khojState) tokenPost(c *khojCtx) khojResp {
	if c.user == nil {
		return st.loginRedirect(c)
	}
	name, _ := c.q("token_name")
	if name == "" {
		name = khojRandomName()
	}
	if utf8.RuneCountInString(name) > 50 {
		return khojServerError() // value too long for type character varying(50)
	}
	t := st.addToken(c.user, name)
	return khojJSONResp(http.StatusOK, struct {
		Token string `json:"token"`
		Name  string `json:"name"`
	}{t.token, t.name})
}

func (st *khojState) tokenGet(c *khojCtx) khojResp {
	if c.user == nil {
		return st.loginRedirect(c)
	}
	type state struct {
		Adding bool   `json:"adding"`
		DB     string `json:"db"`
	}
	type row struct {
		State      state   `json:"_state"`
		ID         int     `json:"id"`
		UserID     int     `json:"user_id"`
		Token      string  `json:"token"`
		Name       string  `json:"name"`
		AccessedAt *string `json:"accessed_at"`
	}
	rows := []row{}
	for _, t := range st.tokens {
		if t.userID == c.user.id {
			rows = append(rows, row{state{false, "default"}, t.id, t.userID, t.token, t.name, nil})
		}
	}
	return khojJSONResp(http.StatusOK, rows)
}

func (st *khojState) tokenDelete(c *khojCtx) khojResp {
	token, ok := c.q("token")
	if !ok {
		return khojValidation(khojMissing("query", "token"))
	}
	if c.user == nil {
		return st.loginRedirect(c)
	}
	kept := st.tokens[:0:0]
	for _, t := range st.tokens {
		if t.userID != c.user.id || t.token != token {
			kept = append(kept, t)
		}
	}
	st.tokens = kept
	return khojJSONResp(http.StatusOK, nil)
}

var (
	khojAdjectives = []string{"Happy", "Serendipitous", "Exuberant", "Calm", "Brave", "Scared", "Energetic", "Chivalrous", "Kind", "Suave"}
	khojNouns      = []string{"Dog", "Cat", "Falcon", "Whale", "Turtle", "Rabbit", "Hamster", "Snake", "Spider", "Elephant"}
)

// khojRandomName is Khoj's default token name: two title-cased words.
func khojRandomName() string {
	return khojAdjectives[randIntn(len(khojAdjectives))] + " " + khojNouns[randIntn(len(khojNouns))]
}
