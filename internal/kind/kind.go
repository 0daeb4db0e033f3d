// Package kind is the server's one error vocabulary: a few portable kinds of
// failure that backends, services and protocols share. A backend wraps its
// own error in a kind; a service adds context with %w; the HTTP layer of
// each protocol turns the kind into a status code without knowing who spoke
// (the pattern of go-cloud's gcerrors.ErrorCode and WTF Dial's wtf.Error).
package kind

import (
	"errors"
	"fmt"
)

// Kind is a portable kind of failure. A Kind is itself an error, so
// errors.Is(err, kind.NotFound) asks whether err is of that kind.
type Kind int

const (
	// Internal is the zero kind: a bug or an unforeseen failure. Its
	// detail is logged, never shown to a client.
	Internal Kind = iota
	// NotFound: the thing named does not exist.
	NotFound
	// Exists: the thing to create is already there.
	Exists
	// Invalid: the request is malformed or its values are out of range.
	Invalid
	// Conflict: the request is well formed but the current state forbids
	// it (a running machine, an attached volume, a concurrent change).
	Conflict
	// Unauthenticated: the credentials sent are missing where required,
	// malformed, forged or expired.
	Unauthenticated
	// Forbidden: the caller may not do this.
	Forbidden
	// Unavailable: a backend or the database cannot be reached now; the
	// same request may succeed later.
	Unavailable
	// Unsupported: this server or backend does not implement it.
	Unsupported
	// NoSpace: the backend has no room left for what was asked (a full
	// file system, a quota); the request may succeed once space is freed.
	NoSpace
)

var names = [...]string{
	Internal:        "internal error",
	NotFound:        "not found",
	Exists:          "already exists",
	Invalid:         "invalid request",
	Conflict:        "conflict",
	Unauthenticated: "unauthenticated",
	Forbidden:       "forbidden",
	Unavailable:     "unavailable",
	Unsupported:     "not supported",
	NoSpace:         "insufficient storage",
}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(names) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return names[k]
}

// Error makes a Kind usable as a sentinel error.
func (k Kind) Error() string { return k.String() }

// Error is a failure of a kind, with a message for the client (which
// includes the text of the error underneath) and, optionally, that error
// (kept for errors.Is and errors.As).
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "":
		return e.Msg
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Kind.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports a match with the Kind sentinel of the same kind, so that
// errors.Is(err, kind.NotFound) holds for any *Error of kind NotFound.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// New is an error of kind k with a message.
func New(k Kind, msg string) error { return &Error{Kind: k, Msg: msg} }

// Errorf is an error of kind k with a formatted message; a %w verb keeps
// the wrapped error reachable (its own kind does not override k).
func Errorf(k Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: k, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// Wrap gives err the kind k, keeping it underneath. A nil err stays nil.
func Wrap(k Kind, err error, msg string) error {
	if err == nil {
		return nil
	}
	if msg != "" {
		msg += ": "
	}
	return &Error{Kind: k, Msg: msg + err.Error(), Err: err}
}

// Of is the kind of err: that of the outermost *Error or Kind in its chain,
// Internal when there is none.
func Of(err error) Kind {
	for err != nil {
		switch e := err.(type) {
		case *Error:
			return e.Kind
		case Kind:
			return e
		}
		if multi, ok := err.(interface{ Unwrap() []error }); ok {
			for _, inner := range multi.Unwrap() {
				if k := Of(inner); k != Internal {
					return k
				}
			}
			return Internal
		}
		err = errors.Unwrap(err)
	}
	return Internal
}

// Message is what a client may be told about err: the error's own text
// when it has a kind, and only the kind's name for an Internal error,
// whose detail belongs in the log.
func Message(err error) string {
	if Of(err) == Internal {
		return Internal.String()
	}
	return err.Error()
}
