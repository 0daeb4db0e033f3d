package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/crypto/bcrypt"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// The users file of HTTP Basic: one user a line,
//
//	name:bcrypt-hash:project[,project...]:role[,role...]
//
// like htpasswd with two more fields. The first project is the user's
// default tenant; a CDMI TID header may choose any other of them. Roles
// may be empty ("alice:$2a$10$...:demo:"). Blank lines and lines starting
// with # are ignored (and not kept when the file is rewritten). A name is
// non-empty with no colon, comma or white space; projects and roles are
// the same and without commas. The file is written with mode 0600:
// AddUser, RemoveUser and ListUsers are what `occicdmi users add|remove|
// list` do.

// User is one line of a users file.
type User struct {
	Name     string
	Hash     string // bcrypt
	Projects []string
	Roles    []string
}

// BcryptCost is the cost AddUser hashes passwords with.
const BcryptCost = bcrypt.DefaultCost

func validName(what, s string) error {
	if s == "" {
		return kind.Errorf(kind.Invalid, "%s is empty", what)
	}
	if strings.ContainsAny(s, ":,") || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return kind.Errorf(kind.Invalid, "%s %q contains a colon, comma or space", what, s)
	}
	return nil
}

func (u User) check() error {
	if err := validName("user name", u.Name); err != nil {
		return err
	}
	if _, err := bcrypt.Cost([]byte(u.Hash)); err != nil {
		return kind.Errorf(kind.Invalid, "user %s: password hash is not bcrypt", u.Name)
	}
	if len(u.Projects) == 0 {
		return kind.Errorf(kind.Invalid, "user %s has no project", u.Name)
	}
	for _, p := range u.Projects {
		if err := validName("project", p); err != nil {
			return err
		}
	}
	for _, r := range u.Roles {
		if err := validName("role", r); err != nil {
			return err
		}
	}
	return nil
}

func (u User) line() string {
	return u.Name + ":" + u.Hash + ":" + strings.Join(u.Projects, ",") + ":" + strings.Join(u.Roles, ",")
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// ParseUsers reads a users file's content.
func ParseUsers(data []byte) ([]User, error) {
	var users []User
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 4 {
			return nil, kind.Errorf(kind.Invalid, "users file line %d: want name:hash:projects:roles", n)
		}
		u := User{Name: f[0], Hash: f[1], Projects: splitList(f[2]), Roles: splitList(f[3])}
		if err := u.check(); err != nil {
			return nil, kind.Errorf(kind.Invalid, "users file line %d: %w", n, err)
		}
		if seen[u.Name] {
			return nil, kind.Errorf(kind.Invalid, "users file line %d: user %s again", n, u.Name)
		}
		seen[u.Name] = true
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return users, nil
}

// ListUsers is the users of the file at path, in file order; a missing
// file has none.
func ListUsers(path string) ([]User, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseUsers(data)
}

// AddUser adds a user with password (hashed with bcrypt) to the file at
// path, creating it. A user of that name already there is kind.Exists.
func AddUser(path, name, password string, projects, roles []string) error {
	if password == "" {
		return kind.New(kind.Invalid, "empty password")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return kind.Wrap(kind.Invalid, err, "password")
	}
	u := User{Name: name, Hash: string(hash), Projects: projects, Roles: roles}
	if err := u.check(); err != nil {
		return err
	}
	users, err := ListUsers(path)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(users, func(o User) bool { return o.Name == name }) {
		return kind.Errorf(kind.Exists, "user %s exists", name)
	}
	return writeUsers(path, append(users, u))
}

// RemoveUser removes the user name from the file at path; one not there is
// kind.NotFound.
func RemoveUser(path, name string) error {
	users, err := ListUsers(path)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(users, func(o User) bool { return o.Name == name })
	if i < 0 {
		return kind.Errorf(kind.NotFound, "no user %s", name)
	}
	return writeUsers(path, slices.Delete(users, i, i+1))
}

// writeUsers replaces the file at path, atomically (a reader sees the old
// file or the new, never half of one).
func writeUsers(path string, users []User) error {
	var b strings.Builder
	b.WriteString("# occicdmi users: name:bcrypt-hash:project[,project...]:role[,role...]\n")
	for _, u := range users {
		b.WriteString(u.line())
		b.WriteByte('\n')
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	return nil
}
