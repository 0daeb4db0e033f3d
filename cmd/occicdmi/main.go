// Command occicdmi serves OCCI and CDMI on one HTTP endpoint.
//
//	occicdmi [serve] [flags]   run the server (the default subcommand)
//	occicdmi migrate [flags]   apply the database migrations and exit
//	occicdmi users add|remove|list [flags]
//	                           manage the HTTP Basic users file
//	occicdmi version           print the version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/occicdmi/occicdmi/cmd/occicdmi/app"
	"github.com/occicdmi/occicdmi/internal/auth"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Println("occicdmi", app.Version, "(OCCI 1.2, CDMI 1.1.1)")
		return 0
	case "users":
		return users(args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	case "serve", "migrate":
	default:
		fmt.Fprintf(os.Stderr, "occicdmi: unknown subcommand %q (want serve, migrate, users or version)\n", cmd)
		return 2
	}
	cfg, err := app.Load("occicdmi "+cmd, args, os.Getenv, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "occicdmi:", err)
		return 2
	}
	log := app.NewLogger(cfg.LogFormat, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if cmd == "migrate" {
		err = app.Migrate(ctx, cfg, log)
	} else {
		err = app.Serve(ctx, cfg, log)
	}
	if err != nil {
		log.Error("occicdmi failed", "err", err)
		return 1
	}
	return 0
}

const usersUsage = `usage:
  occicdmi users add NAME --users-file F --projects P[,P...] [--roles R[,R...]] [--password PW]
  occicdmi users remove NAME --users-file F
  occicdmi users list --users-file F
add reads the password from the first line of standard input unless --password is given;
the users file may also be named by OCCICDMI_USERS_FILE.`

// users is `occicdmi users add|remove|list`: the HTTP Basic users file of
// --users-file (auth.AddUser, RemoveUser, ListUsers). The server reads the
// file again when it changes: no restart needed.
func users(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usersUsage)
		return 2
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("occicdmi users "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, usersUsage); fs.PrintDefaults() }
	file := fs.String("users-file", getenv("OCCICDMI_USERS_FILE"), "the users file (env OCCICDMI_USERS_FILE)")
	var projects, roles, password *string
	if verb == "add" {
		projects = fs.String("projects", "", "the user's projects, comma-separated; the first is the default tenant, CDMI's TID header chooses another")
		roles = fs.String("roles", "", "the user's roles, comma-separated (admin: the administrator)")
		password = fs.String("password", "", "the password (default: the first line of standard input)")
	}
	// The name may come before or after the flags.
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		names, args = append(names, fs.Arg(0)), fs.Args()[1:]
	}
	want := 1
	switch verb {
	case "add", "remove":
	case "list":
		want = 0
	default:
		fmt.Fprintf(stderr, "occicdmi users: unknown verb %q\n%s\n", verb, usersUsage)
		return 2
	}
	if len(names) != want {
		fmt.Fprintf(stderr, "occicdmi users %s: want %d user name(s), got %q\n%s\n", verb, want, names, usersUsage)
		return 2
	}
	if *file == "" {
		fmt.Fprintf(stderr, "occicdmi users %s: --users-file is missing\n", verb)
		return 2
	}
	var err error
	switch verb {
	case "add":
		pw := *password
		if pw == "" {
			if pw, err = bufio.NewReader(stdin).ReadString('\n'); err != nil && !errors.Is(err, io.EOF) {
				fmt.Fprintln(stderr, "occicdmi users add: reading the password:", err)
				return 1
			}
			pw = strings.TrimRight(pw, "\r\n")
		}
		if *projects == "" {
			fmt.Fprintln(stderr, "occicdmi users add: --projects is missing (the user's tenants)")
			return 2
		}
		err = auth.AddUser(*file, names[0], pw, splitComma(*projects), splitComma(*roles))
		if err == nil {
			fmt.Fprintf(stdout, "added %s to %s\n", names[0], *file)
		}
	case "remove":
		err = auth.RemoveUser(*file, names[0])
		if err == nil {
			fmt.Fprintf(stdout, "removed %s from %s\n", names[0], *file)
		}
	case "list":
		var list []auth.User
		if list, err = auth.ListUsers(*file); err == nil {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPROJECTS\tROLES")
			for _, u := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, strings.Join(u.Projects, ","), strings.Join(u.Roles, ","))
			}
			err = tw.Flush()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "occicdmi users %s: %v\n", verb, err)
		return 1
	}
	return 0
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
