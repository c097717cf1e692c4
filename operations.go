package authclient

import "errors"

// Operation names an operation of the shared API, or a variant of one
// chosen with an option, that a server may lack. It is the Op of an
// [*UnsupportedError] and what [Server.Supports] is asked about; the
// package doc's # Servers table lists which server has which, from the
// same data.
//
// Operations that exist on one server only are not here: they live in
// that server's package (comfyui, komga, khoj, audiobookshelf), where they
// cannot be called on the wrong server.
type Operation string

// The shared operations and variants.
const (
	OpLogin              Operation = "Login"
	OpLogout             Operation = "Logout"
	OpCurrentUser        Operation = "CurrentUser"
	OpCheckAuth          Operation = "CheckAuth"
	OpHealth             Operation = "Health"
	OpProbe              Operation = "Probe"
	OpListAPIKeys        Operation = "ListAPIKeys"
	OpCreateAPIKey       Operation = "CreateAPIKey"
	OpDeleteAPIKey       Operation = "DeleteAPIKey"
	OpRotateAPIKey       Operation = "RotateAPIKey"
	OpHeldAPIKey         Operation = "HeldAPIKey"
	OpListOAuthProviders Operation = "ListOAuthProviders"
	OpPaginate           Operation = "Paginate"
	OpUseSession         Operation = "UseSession"
	OpParseSession       Operation = "ParseSession"
	OpParseUser          Operation = "ParseUser"
	// OpRememberMe is [WithRememberMe]: a sign-in that survives a server
	// restart.
	OpRememberMe Operation = "WithRememberMe"
	// OpLogoutWithGET is [LogoutWithGET].
	OpLogoutWithGET Operation = "LogoutWithGET"
	// OpLogoutAllDevices is [LogoutAllDevices].
	OpLogoutAllDevices Operation = "LogoutAllDevices"
)

// operations is every [Operation], in the order of the package doc's table.
var operations = []Operation{
	OpLogin, OpRememberMe, OpUseSession, OpParseSession, OpLogout, OpLogoutWithGET, OpLogoutAllDevices,
	OpCurrentUser, OpParseUser, OpCheckAuth, OpHealth, OpProbe,
	OpListAPIKeys, OpHeldAPIKey, OpCreateAPIKey, OpDeleteAPIKey, OpRotateAPIKey,
	OpListOAuthProviders, OpPaginate,
}

// Supports reports whether the server offers op: whether a call of it can
// succeed rather than fail with an [*UnsupportedError]. An unknown server
// or operation supports nothing.
func (s Server) Supports(op Operation) bool {
	spec, err := lookupSpec(s)
	if err != nil {
		return false
	}
	return spec.require(op) == nil
}

// require returns nil if the server offers op, else the
// [*UnsupportedError] that says why, from the server's unsupported
// reasons: the one place that decides.
func (s *serverSpec) require(op Operation) error {
	reason, lacks := s.unsupported[op]
	if !lacks && isOperation(op) {
		return nil
	}
	if reason == "" {
		reason = "not an operation of the shared API"
	}
	return &UnsupportedError{Server: s.server, Op: op, Reason: reason}
}

// requireOption is [serverSpec.require] for an option given to [New]: a
// [*ConfigError] naming the option, which wraps the [*UnsupportedError]
// (errors.Is(err, errors.ErrUnsupported) holds).
func (s *serverSpec) requireOption(setting string, op Operation) error {
	err := s.require(op)
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		return nil
	}
	return &ConfigError{Setting: setting, Problem: ue.Reason, Err: err}
}

func isOperation(op Operation) bool {
	for _, o := range operations {
		if o == op {
			return true
		}
	}
	return false
}
