package authtest

// The JSON shapes of the Audiobookshelf fake's users, status and server
// settings.

import (
	"crypto/sha256"
	"encoding/hex"
)

type absPermissions struct {
	Download                  bool `json:"download"`
	Update                    bool `json:"update"`
	Delete                    bool `json:"delete"`
	Upload                    bool `json:"upload"`
	CreateEreader             bool `json:"createEreader"`
	AccessAllLibraries        bool `json:"accessAllLibraries"`
	AccessAllTags             bool `json:"accessAllTags"`
	AccessExplicitContent     bool `json:"accessExplicitContent"`
	SelectedTagsNotAccessible bool `json:"selectedTagsNotAccessible"`
}

func absPermissionsFor(typ string) absPermissions {
	admin := typ == "root" || typ == "admin"
	return absPermissions{Download: true, Update: admin, Delete: typ == "root", Upload: admin, CreateEreader: admin,
		AccessAllLibraries: true, AccessAllTags: true, AccessExplicitContent: admin}
}

// absUserJSON is User.toOldJSONForBrowser.
type absUserJSON struct {
	ID                  string         `json:"id"`
	Username            string         `json:"username"`
	Email               *string        `json:"email"`
	Type                string         `json:"type"`
	Token               string         `json:"token"`
	IsOldToken          bool           `json:"isOldToken,omitempty"`
	MediaProgress       []any          `json:"mediaProgress"`
	SeriesHide          []any          `json:"seriesHideFromContinueListening"`
	Bookmarks           []any          `json:"bookmarks"`
	IsActive            bool           `json:"isActive"`
	IsLocked            bool           `json:"isLocked"`
	LastSeen            *int64         `json:"lastSeen"`
	CreatedAt           int64          `json:"createdAt"`
	Permissions         absPermissions `json:"permissions"`
	LibrariesAccessible []string       `json:"librariesAccessible"`
	ItemTagsSelected    []string       `json:"itemTagsSelected"`
	HasOpenIDLink       bool           `json:"hasOpenIDLink"`
}

type absUserWithTokens struct {
	absUserJSON
	RefreshToken *string `json:"refreshToken"`
	AccessToken  string  `json:"accessToken"`
}

func absUserToJSON(u *absUser) absUserJSON {
	return absUserJSON{ID: u.id, Username: u.username, Type: u.typ, Token: u.token, IsOldToken: u.isOldToken,
		MediaProgress: []any{}, SeriesHide: []any{}, Bookmarks: []any{}, IsActive: u.active,
		CreatedAt: u.createdAt.UnixMilli(), Permissions: absPermissionsFor(u.typ),
		LibrariesAccessible: []string{}, ItemTagsSelected: []string{}, HasOpenIDLink: u.openIDLinked}
}

type absUserBrief struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Type     string `json:"type"`
}

func absBrief(u *absUser) *absUserBrief {
	if u == nil {
		return nil
	}
	return &absUserBrief{ID: u.id, Username: u.username, Type: u.typ}
}

// absUserRow is the raw user row the PATCH /api/api-keys/:id quirk returns.
type absUserRow struct {
	ID          string  `json:"id"`
	Username    string  `json:"username"`
	Email       *string `json:"email"`
	Pash        string  `json:"pash"`
	Type        string  `json:"type"`
	Token       string  `json:"token"`
	IsActive    bool    `json:"isActive"`
	IsLocked    bool    `json:"isLocked"`
	LastSeen    *int64  `json:"lastSeen"`
	Permissions struct {
		absPermissions
		LibrariesAccessible []string `json:"librariesAccessible"`
		ItemTagsSelected    []string `json:"itemTagsSelected"`
	} `json:"permissions"`
	Bookmarks []any `json:"bookmarks"`
	ExtraData struct {
		SeriesHide []any `json:"seriesHideFromContinueListening"`
	} `json:"extraData"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

func absUserToRow(u *absUser) absUserRow {
	row := absUserRow{ID: u.id, Username: u.username, Type: u.typ, Token: u.token, IsActive: u.active,
		Bookmarks: []any{}, CreatedAt: absISO(u.createdAt), UpdatedAt: absISO(u.createdAt)}
	if u.password != "" {
		sum := sha256.Sum256([]byte(u.id + u.password)) // a bcrypt-shaped stand-in
		row.Pash = "$2a$08$" + hex.EncodeToString(sum[:])[:53]
	}
	row.Permissions.absPermissions = absPermissionsFor(u.typ)
	row.Permissions.LibrariesAccessible = []string{}
	row.Permissions.ItemTagsSelected = []string{}
	row.ExtraData.SeriesHide = []any{}
	return row
}

type absAuthFormData struct {
	AuthLoginCustomMessage string  `json:"authLoginCustomMessage"`
	AuthOpenIDButtonText   *string `json:"authOpenIDButtonText,omitempty"`
	AuthOpenIDAutoLaunch   *bool   `json:"authOpenIDAutoLaunch,omitempty"`
}

type absStatusJSON struct {
	App           string          `json:"app"`
	ServerVersion string          `json:"serverVersion"`
	IsInit        bool            `json:"isInit"`
	Language      string          `json:"language"`
	AuthMethods   []string        `json:"authMethods"`
	AuthFormData  absAuthFormData `json:"authFormData"`
	ConfigPath    string          `json:"ConfigPath,omitempty"`
	MetadataPath  string          `json:"MetadataPath,omitempty"`
}

// absServerSettings is ServerSettings.toJSONForBrowser (plus timeZone).
type absServerSettings struct {
	ID                              string   `json:"id"`
	ScannerFindCovers               bool     `json:"scannerFindCovers"`
	ScannerCoverProvider            string   `json:"scannerCoverProvider"`
	ScannerParseSubtitle            bool     `json:"scannerParseSubtitle"`
	ScannerPreferMatchedMetadata    bool     `json:"scannerPreferMatchedMetadata"`
	ScannerDisableWatcher           bool     `json:"scannerDisableWatcher"`
	StoreCoverWithItem              bool     `json:"storeCoverWithItem"`
	StoreMetadataWithItem           bool     `json:"storeMetadataWithItem"`
	MetadataFileFormat              string   `json:"metadataFileFormat"`
	RateLimitLoginRequests          int      `json:"rateLimitLoginRequests"`
	RateLimitLoginWindow            int      `json:"rateLimitLoginWindow"`
	AllowIframe                     bool     `json:"allowIframe"`
	BackupPath                      string   `json:"backupPath"`
	BackupSchedule                  any      `json:"backupSchedule"`
	BackupsToKeep                   int      `json:"backupsToKeep"`
	MaxBackupSize                   int      `json:"maxBackupSize"`
	LoggerDailyLogsToKeep           int      `json:"loggerDailyLogsToKeep"`
	LoggerScannerLogsToKeep         int      `json:"loggerScannerLogsToKeep"`
	HomeBookshelfView               int      `json:"homeBookshelfView"`
	BookshelfView                   int      `json:"bookshelfView"`
	PodcastEpisodeSchedule          string   `json:"podcastEpisodeSchedule"`
	SortingIgnorePrefix             bool     `json:"sortingIgnorePrefix"`
	SortingPrefixes                 []string `json:"sortingPrefixes"`
	ChromecastEnabled               bool     `json:"chromecastEnabled"`
	DateFormat                      string   `json:"dateFormat"`
	TimeFormat                      string   `json:"timeFormat"`
	Language                        string   `json:"language"`
	AllowedOrigins                  []string `json:"allowedOrigins"`
	LogLevel                        int      `json:"logLevel"`
	Version                         string   `json:"version"`
	BuildNumber                     int      `json:"buildNumber"`
	AuthLoginCustomMessage          *string  `json:"authLoginCustomMessage"`
	AuthActiveAuthMethods           []string `json:"authActiveAuthMethods"`
	AuthOpenIDIssuerURL             *string  `json:"authOpenIDIssuerURL"`
	AuthOpenIDAuthorizationURL      *string  `json:"authOpenIDAuthorizationURL"`
	AuthOpenIDTokenURL              *string  `json:"authOpenIDTokenURL"`
	AuthOpenIDUserInfoURL           *string  `json:"authOpenIDUserInfoURL"`
	AuthOpenIDJwksURL               *string  `json:"authOpenIDJwksURL"`
	AuthOpenIDLogoutURL             *string  `json:"authOpenIDLogoutURL"`
	AuthOpenIDTokenSigningAlgorithm string   `json:"authOpenIDTokenSigningAlgorithm"`
	AuthOpenIDButtonText            string   `json:"authOpenIDButtonText"`
	AuthOpenIDAutoLaunch            bool     `json:"authOpenIDAutoLaunch"`
	AuthOpenIDAutoRegister          bool     `json:"authOpenIDAutoRegister"`
	AuthOpenIDMatchExistingBy       *string  `json:"authOpenIDMatchExistingBy"`
	TimeZone                        string   `json:"timeZone"`
}

func (st *absState) serverSettings(q *absReq) absServerSettings {
	s := absServerSettings{
		ID: "server-settings", ScannerCoverProvider: "google", MetadataFileFormat: "json",
		RateLimitLoginRequests: 10, RateLimitLoginWindow: 600000, BackupPath: "/data/metadata/backups",
		BackupSchedule: false, BackupsToKeep: 2, MaxBackupSize: 1, LoggerDailyLogsToKeep: 7,
		LoggerScannerLogsToKeep: 2, HomeBookshelfView: 1, BookshelfView: 1, PodcastEpisodeSchedule: "0 * * * *",
		SortingPrefixes: []string{"the", "a"}, DateFormat: "MM/dd/yyyy", TimeFormat: "HH:mm",
		Language: "en-us", AllowedOrigins: []string{}, LogLevel: 2, Version: absVersion, BuildNumber: 1,
		AuthActiveAuthMethods: st.authMethods(), AuthOpenIDTokenSigningAlgorithm: "RS256",
		AuthOpenIDButtonText: st.openIDButton, TimeZone: "UTC",
	}
	if st.openID {
		idp := absOrigin(q.r) + "/fake-idp"
		str := func(s string) *string { return &s }
		s.AuthOpenIDIssuerURL = str(idp)
		s.AuthOpenIDAuthorizationURL = str(idp + "/authorize")
		s.AuthOpenIDTokenURL = str(idp + "/token")
		s.AuthOpenIDUserInfoURL = str(idp + "/userinfo")
		s.AuthOpenIDJwksURL = str(idp + "/jwks")
		s.AuthOpenIDLogoutURL = str(idp + "/logout")
		s.AuthOpenIDMatchExistingBy = str("username")
	}
	return s
}
