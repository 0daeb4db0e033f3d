// Package auth says who is asking: the Principal of a request (user,
// project, roles) and the mechanisms that find it — Keystone v3 tokens
// (X-Auth-Token), HTTP Basic against a users file (with CDMI's TID header
// choosing the tenant) and X.509 client certificates mapped to projects.
//
// Every mechanism is an Authenticator. Its answer is one of three:
//
//   - a Principal: the credentials it looks for are there and good;
//   - ErrNoCredentials: the request carries none of its kind, so another
//     mechanism (or, where the server allows it, anonymity) may decide;
//   - an error for which errors.Is(err, ErrBadCredentials) holds: it found
//     credentials of its kind and they are wrong, expired, unknown or not
//     allowed here. The request is refused with 401; it never falls through
//     to another mechanism or to anonymous.
//   - any other error is the mechanism failing (Keystone unreachable: kind.
//     Unavailable, so 503), again never a silent anonymous.
//
// Chain puts several together. A request without a principal in its context
// is anonymous: the server decides whether that is allowed.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Principal is who a request acts for.
type Principal struct {
	// User names the user: the Keystone user name, the users file's name,
	// or the certificate's subject DN (RFC 4514, see DN).
	User string
	// UserID is Keystone's user ID (empty for the other mechanisms).
	UserID string
	// Domain is the Keystone domain of the user (empty otherwise).
	Domain string
	// Project is the tenant the request acts in: the name of the Keystone
	// project the token is scoped to, the users file's project (chosen by
	// TID), or the certificate's mapped project. Empty for a Keystone
	// system-scoped admin token.
	Project string
	// ProjectID is Keystone's project ID (empty otherwise).
	ProjectID string
	// Roles are role names, as Keystone or the file gives them.
	Roles []string
	// Admin: the principal has the administrator role (sees every project).
	Admin bool
	// Method is the mechanism that authenticated: "keystone", "basic",
	// "x509".
	Method string
	// Expires is when the credentials stop being valid (zero: no known
	// end).
	Expires time.Time
}

// HasRole reports whether p has the role (names compare exactly).
func (p *Principal) HasRole(role string) bool { return p != nil && slices.Contains(p.Roles, role) }

// String is for logs: method, user and project.
func (p *Principal) String() string {
	if p == nil {
		return "anonymous"
	}
	return fmt.Sprintf("%s:%s@%s", p.Method, p.User, p.Project)
}

// DefaultAdminRole is the role that makes a principal Admin unless a
// mechanism is configured otherwise.
const DefaultAdminRole = "admin"

type ctxKey struct{}

// WithPrincipal is ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext is the principal ctx carries; false (and nil) when the
// request is anonymous.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(*Principal)
	return p, ok && p != nil
}

// ErrNoCredentials: the request carries no credentials of the kind the
// Authenticator looks for.
var ErrNoCredentials = errors.New("no credentials")

// ErrBadCredentials: credentials were there, and they are wrong, expired,
// unknown or not allowed (a TID the user is not in, an unmapped
// certificate). errors.Is(err, ErrBadCredentials) holds for every such
// error; its message says why and may be shown to the client.
var ErrBadCredentials error = &kind.Error{Kind: kind.Unauthenticated, Msg: "bad credentials"}

// badf is an ErrBadCredentials with a reason.
func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadCredentials}, args...)...)
}

// Authenticator finds the principal of a request from one kind of
// credentials. See the package documentation for its three answers.
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
}

// Challenger is an Authenticator that tells clients how to authenticate:
// the value of a WWW-Authenticate header for a 401.
type Challenger interface {
	WWWAuthenticate() string
}

// Chain tries its authenticators in order; the first that finds
// credentials of its kind decides: its principal, or its error (bad
// credentials: 401; a failure such as kind.Unavailable: 503), never a
// fallthrough to the next one. When none finds any, the answer is
// ErrNoCredentials.
//
// The order the server uses is Keystone, Basic, X.509: credentials the
// client put in this request's headers come before the certificate of
// the connection it happens to use.
type Chain []Authenticator

// Authenticate implements Authenticator.
func (c Chain) Authenticate(r *http.Request) (*Principal, error) {
	for _, a := range c {
		p, err := a.Authenticate(r)
		switch {
		case err == nil && p == nil:
			return nil, fmt.Errorf("auth: %T answered neither a principal nor an error", a)
		case err == nil:
			return p, nil
		case errors.Is(err, ErrNoCredentials):
			continue
		default:
			return nil, err
		}
	}
	return nil, ErrNoCredentials
}

// Challenges are the WWW-Authenticate values of the chain's members that
// have one, in order: the headers of a 401.
func (c Chain) Challenges() []string {
	var out []string
	for _, a := range c {
		if ch, ok := a.(Challenger); ok {
			if v := ch.WWWAuthenticate(); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}
