// Command occicdmi serves OCCI and CDMI on one HTTP endpoint.
//
//	occicdmi [serve] [flags]   run the server (the default subcommand)
//	occicdmi migrate [flags]   apply the database migrations and exit
//	occicdmi version           print the version
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/occicdmi/occicdmi/cmd/occicdmi/app"
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
	case "serve", "migrate":
	default:
		fmt.Fprintf(os.Stderr, "occicdmi: unknown subcommand %q (want serve, migrate or version)\n", cmd)
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
